import pino, { type Logger } from "pino";
import { SECRET_FIELDS } from "../secrets";
import { traceFields, tracingEnabled } from "../tracing";

export type { Logger };

/** Those fields at the top of a log line and up to three objects deep, plus request headers. */
const REDACT = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]),
  'headers["x-api-key"]',
  'req.headers["x-api-key"]',
];

/** Error fields that carry a failed query's values (drizzle's `params`, postgres.js's debug fields, Postgres's `detail`). */
const ERROR_VALUE_FIELDS = ["params", "parameters", "args", "types", "detail"];

/**
 * pino's error serializer, minus the values of failed queries: drizzle puts a query's
 * parameters (password hashes, tokens' digests, emails) into its error message and `params`,
 * and Postgres's `detail` quotes the row ("Failing row contains …"). The SQL text, the
 * SQLSTATE and the constraint stay, which is what diagnosing needs: pino writes the causes'
 * messages into the error's own, and `cause` keeps each one's type and code (drizzle wraps the
 * driver's error, whose code is the SQLSTATE or CONNECTION_CLOSED). An error's code is logged as
 * `errorCode`: `code` is a secret field (verification codes) and redacted wherever it appears.
 */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown;
  if (serialized === error || typeof serialized !== "object" || serialized === null) return serialized;
  const out = serialized as Record<string, unknown>;
  for (const field of ERROR_VALUE_FIELDS) delete out[field];
  const code = ownCode(error);
  delete out.code;
  if (code !== undefined) out.errorCode = code;
  const leaks: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 10; depth++) {
    const params = (current as { params?: unknown }).params;
    if (params !== undefined) leaks.push(`\nparams: ${String(params)}`);
    current = current.cause;
  }
  for (const field of ["message", "stack"]) {
    const text = out[field];
    if (typeof text === "string")
      out[field] = leaks.reduce((kept, leak) => kept.split(leak).join("\nparams: [redacted]"), text);
  }
  const causes = causeCodes((error as Error).cause);
  if (causes) out.cause = causes;
  return out;
}

/** The causes under an error, three deep: each one's type and code, no message or values. */
function causeCodes(error: unknown, depth = 0): Record<string, unknown> | undefined {
  if (!(error instanceof Error) || depth >= 3) return undefined;
  const code = ownCode(error);
  const cause = causeCodes(error.cause, depth + 1);
  return {
    type: error.constructor.name,
    ...(code !== undefined ? { errorCode: code } : {}),
    ...(cause ? { cause } : {}),
  };
}

function ownCode(error: unknown): string | number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" || typeof code === "number" ? code : undefined;
}

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; stdout when absent. */
  destination?: pino.DestinationStream;
  /**
   * Off only for a logger whose lines are built from fields that never hold secrets (the
   * edge's access log): redaction costs time on every line.
   */
  redact?: boolean;
}

/**
 * The one way to make a logger: pino JSON to stdout, secrets redacted, errors logged without
 * the values of the queries that failed, service named, trace ids stamped while tracing is on.
 */
export function createLogger({ service, level = "info", destination, redact = true }: LoggerOptions): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    ...(redact ? { redact: { paths: REDACT, censor: "[redacted]" } } : {}),
    serializers: { err: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    // With tracing on (started before the logger is made), each line made inside a trace
    // carries its trace_id and span_id.
    ...(tracingEnabled() ? { mixin: traceFields } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
