import { status } from "@grpc/grpc-js";
import { type AppError, ERROR_KINDS, fromGrpcError, isAppError, isServiceError } from "@parley/kit/errors";

/** gRPC code → HTTP status, as grpc-gateway maps them. */
const HTTP_STATUS: Record<number, number> = {
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
      field_violations?: Array<{ field: string; description: string }>;
    };
    request_id: string;
  };
}

export interface HttpError {
  statusCode: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
}

/**
 * Any failure as the HTTP error envelope. Application errors keep their reason, metadata and
 * field violations; anything else (and INTERNAL/UNKNOWN from upstream) says only "internal
 * error", so internals never leak.
 */
export function toHttpError(error: unknown, requestId: string): HttpError {
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
