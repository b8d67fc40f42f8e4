import { status } from "@grpc/grpc-js";
import {
  type AppError,
  ERROR_KINDS,
  type FieldViolation,
  fromGrpcError,
  invalidArgument,
  isAppError,
  isServiceError,
} from "@parley/kit/errors";
import { NO_CONTROL_CHARACTERS } from "./schemas";

/** gRPC code → HTTP status, as grpc-gateway maps them. */
export const HTTP_STATUS: Record<number, number> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499,
  [status.UNKNOWN]: 500,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.UNAUTHENTICATED]: 401,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400,
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.INTERNAL]: 500,
  [status.UNAVAILABLE]: 503,
  [status.DATA_LOSS]: 500,
};

export interface ErrorBody {
  error: {
    /** The HTTP status. */
    code: number;
    /** The gRPC status name: NOT_FOUND, FAILED_PRECONDITION… */
    status: string;
    reason: string;
    message: string;
    details: {
      metadata?: Record<string, string>;
      field_violations?: FieldViolation[];
    };
    request_id: string;
  };
}

export interface HttpError {
  statusCode: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
}

/** What Fastify reports for a request its schemas or parsers refused. */
interface FastifyRequestError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: Array<{
    keyword: string;
    instancePath: string;
    message?: string;
    params: Record<string, unknown>;
  }>;
  validationContext?: string;
}

/** The HTTP statuses a request refused before any service saw it keeps (not 400). */
const PARSER_STATUS: Record<number, { reason: string; status: string }> = {
  413: { reason: "BODY_TOO_LARGE", status: "INVALID_ARGUMENT" },
  415: { reason: "UNSUPPORTED_MEDIA_TYPE", status: "INVALID_ARGUMENT" },
};

/** `/items/3/amount` → `items[3].amount`, under the body field the route maps (`profile.`). */
export function fieldPath(instancePath: string, prefix = ""): string {
  const path = instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((text, part) => (/^\d+$/.test(part) ? `${text}[${part}]` : text ? `${text}.${part}` : part), "");
  return [prefix, path].filter(Boolean).join(".");
}

/**
 * A schema refusal as INVALID_BODY naming the field: `field_violations[0].field` is the
 * request field (`kind`, `amount.amount_minor`, `page_size`), never "body".
 */
function validationError(error: FastifyRequestError, bodyField: string): AppError {
  const violations: FieldViolation[] = (error.validation ?? []).map((v) => {
    const prefix = error.validationContext === "body" ? bodyField : "";
    const base = fieldPath(v.instancePath, prefix);
    const named = (name: unknown) => [base, String(name).replaceAll("__", ".")].filter(Boolean).join(".");
    switch (v.keyword) {
      case "required":
        return { field: named(v.params.missingProperty), description: "is required" };
      case "additionalProperties":
        return {
          field: named(v.params.additionalProperty),
          description:
            error.validationContext === "querystring"
              ? "is not a parameter of this request"
              : "is not a field of this request",
        };
      case "pattern":
        return {
          field: base.replaceAll("__", "."),
          description:
            v.params.pattern === NO_CONTROL_CHARACTERS
              ? "must not contain control characters"
              : (v.message ?? "is invalid"),
        };
      case "enum":
        return {
          field: base,
          description: `must be one of ${(v.params.allowedValues as string[]).join(", ")}`,
        };
      default:
        return {
          field: base.replaceAll("__", ".") || error.validationContext || "body",
          description: v.message ?? "is invalid",
        };
    }
  });
  const first = violations[0] ?? { field: "body", description: error.message };
  return invalidArgument("INVALID_BODY", `${first.field} ${first.description}`, {
    fieldViolations: violations,
  });
}

/**
 * Any failure as the one HTTP error envelope. Application errors (the edge's own and the
 * services', through gRPC) keep their reason, metadata and field violations; requests the
 * edge's parsers and schemas refused name the field; anything else (and INTERNAL/UNKNOWN
 * from upstream) says only "internal error", so internals never leak.
 */
export function toHttpError(error: unknown, requestId: string, bodyField = ""): HttpError {
  const fastify = error as FastifyRequestError;
  if (!isAppError(error) && !isServiceError(error) && fastify.statusCode && fastify.statusCode < 500) {
    if (fastify.validation) return toHttpError(validationError(fastify, bodyField), requestId);
    const kept = PARSER_STATUS[fastify.statusCode];
    if (kept)
      return {
        statusCode: fastify.statusCode,
        body: {
          error: {
            code: fastify.statusCode,
            status: kept.status,
            reason: kept.reason,
            message: fastify.message,
            details: {},
            request_id: requestId,
          },
        },
      };
    return toHttpError(invalidArgument("INVALID_BODY", fastify.message), requestId);
  }
  const appError: AppError | undefined = isAppError(error)
    ? error
    : isServiceError(error)
      ? fromGrpcError(error)
      : undefined;
  const code: number = appError ? ERROR_KINDS[appError.kind] : status.INTERNAL;
  const internal =
    !appError || code === status.INTERNAL || code === status.UNKNOWN || code === status.DATA_LOSS;
  const details: ErrorBody["error"]["details"] = {};
  if (!internal && appError) {
    if (Object.keys(appError.metadata).length > 0) details.metadata = appError.metadata;
    if (appError.fieldViolations.length > 0) details.field_violations = appError.fieldViolations;
  }
  return {
    statusCode: HTTP_STATUS[code] ?? 500,
    retryAfterSeconds: internal ? undefined : appError?.retryAfterSeconds,
    body: {
      error: {
        code: HTTP_STATUS[code] ?? 500,
        status: status[code] ?? "INTERNAL",
        reason: internal ? "INTERNAL" : appError!.reason,
        message: internal ? "internal error" : appError!.message,
        details,
        request_id: requestId,
      },
    },
  };
}
