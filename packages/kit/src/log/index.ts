import pino, { type Logger } from "pino";

export type { Logger };

/** Field names that hold secrets in Parley's messages (proto field names, camelCase as decoded). */
const SECRET_FIELDS = [
  "password",
  "newPassword",
  "currentPassword",
  "token",
  "accessToken",
  "refreshToken",
  "resetToken",
  "challengeToken",
  "secret",
  "clientSecret",
  "apiKey",
  "code",
  "mfaCode",
  "backupCodes",
  "otpauthUri",
  "authorization",
];

/** Those fields at the top of a log line and up to three objects deep, plus request headers. */
const REDACT = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]),
  'headers["x-api-key"]',
  'req.headers["x-api-key"]',
];

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; stdout when absent. */
  destination?: pino.DestinationStream;
}

/** The one way to make a logger: pino JSON to stdout, secrets redacted, service named. */
export function createLogger({ service, level = "info", destination }: LoggerOptions): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
