import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { Any } from "@parley/proto/google/protobuf/any";
import { BadRequest, ErrorInfo, RetryInfo } from "@parley/proto/google/rpc/error_details";
import { Status } from "@parley/proto/google/rpc/status";
import { AppError, ERROR_KINDS, type ErrorKind, type FieldViolation } from "./app-error";
import { databaseError } from "./database";

const DETAILS_KEY = "grpc-status-details-bin";
const TYPE_PREFIX = "type.googleapis.com/";
const CODE_TO_KIND = new Map<number, ErrorKind>(
  Object.entries(ERROR_KINDS).map(([kind, code]) => [code, kind as ErrorKind]),
);

export type LogLevel = "info" | "warn" | "error";

/** What the server sends for a failed call, and how loudly to log it. */
export interface TranslatedError {
  code: number;
  details: string;
  metadata: Metadata;
  reason: string;
  logLevel: LogLevel;
}

function pack(typeName: string, value: Uint8Array): Any {
  return { typeUrl: TYPE_PREFIX + typeName, value: Buffer.from(value) };
}

function logLevelFor(code: number): LogLevel {
  if (code === status.INTERNAL || code === status.UNKNOWN || code === status.DATA_LOSS) return "error";
  if (code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED) return "warn";
  return "info";
}

/**
 * The one translator from anything thrown to a gRPC status: AppErrors keep their code,
 * reason and metadata (as google.rpc.ErrorInfo in grpc-status-details-bin); a lost database
 * connection becomes UNAVAILABLE (DATABASE_UNAVAILABLE, retryable) and a transaction that lost
 * to a concurrent one ABORTED (DATABASE_CONFLICT, retryable, logged as a warning); anything else becomes
 * INTERNAL with a generic message, so internals never leak to callers.
 */
export function toGrpcStatus(error: unknown, domain: string): TranslatedError {
  const appError = isRemoteOrAppError(error)
    ? error
    : (databaseError(error) ?? new AppError("internal", "INTERNAL", "internal error"));
  const details: Any[] = [
    pack(
      "google.rpc.ErrorInfo",
      ErrorInfo.encode({ reason: appError.reason, domain, metadata: appError.metadata }).finish(),
    ),
  ];
  if (appError.fieldViolations.length > 0) {
    details.push(
      pack(
        "google.rpc.BadRequest",
        BadRequest.encode({ fieldViolations: appError.fieldViolations.map(toViolation) }).finish(),
      ),
    );
  }
  if (appError.retryAfterSeconds !== undefined) {
    const seconds = Math.ceil(appError.retryAfterSeconds);
    details.push(
      pack(
        "google.rpc.RetryInfo",
        RetryInfo.encode({ retryDelay: { seconds: BigInt(seconds), nanos: 0 } }).finish(),
      ),
    );
  }
  const metadata = new Metadata();
  metadata.set(
    DETAILS_KEY,
    Buffer.from(Status.encode({ code: appError.code, message: appError.message, details }).finish()),
  );
  return {
    code: appError.code,
    details: appError.message,
    metadata,
    reason: appError.reason,
    // A deadlock or serialization failure is a retry for the caller and a lead for us.
    logLevel: appError.reason === "DATABASE_CONFLICT" ? "warn" : logLevelFor(appError.code),
  };
}

function toViolation(v: FieldViolation) {
  return { field: v.field, description: v.description, reason: "", localizedMessage: undefined };
}

function isRemoteOrAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

const TRANSPORT_MESSAGES: Partial<Record<status, string>> = {
  [status.UNAVAILABLE]: "a service is unavailable; retry shortly",
  [status.DEADLINE_EXCEEDED]: "a call between services timed out",
  [status.CANCELLED]: "the call was cancelled",
  [status.RESOURCE_EXHAUSTED]: "a service is overloaded; retry shortly",
};

/**
 * Reads a failed call's status back into an AppError (code, reason, metadata, field
 * violations, retry delay), so a service can branch on a downstream reason such as
 * INSUFFICIENT_FUNDS. Errors without details keep their code and get reason = code name.
 */
export function fromGrpcError(error: ServiceError): AppError {
  const kind = CODE_TO_KIND.get(error.code) ?? "internal";
  const raw = error.metadata?.get(DETAILS_KEY)[0];
  let reason = status[error.code] ?? "UNKNOWN";
  let metadata: Record<string, string> = {};
  let fieldViolations: FieldViolation[] = [];
  let retryAfterSeconds: number | undefined;
  // Without ErrorInfo the status came from the transport, whose text names hosts and ports:
  // callers get a plain message, logs keep the original as the cause.
  let message = TRANSPORT_MESSAGES[error.code] ?? "a call between services failed";
  if (raw instanceof Buffer) {
    for (const detail of Status.decode(raw).details) {
      const typeName = detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1);
      if (typeName === "google.rpc.ErrorInfo") {
        const info = ErrorInfo.decode(detail.value);
        reason = info.reason;
        metadata = info.metadata;
        message = error.details;
      } else if (typeName === "google.rpc.BadRequest") {
        fieldViolations = BadRequest.decode(detail.value).fieldViolations.map((v) => ({
          field: v.field,
          description: v.description,
        }));
      } else if (typeName === "google.rpc.RetryInfo") {
        retryAfterSeconds = Number(RetryInfo.decode(detail.value).retryDelay?.seconds ?? 0);
      }
    }
  }
  return new AppError(kind, reason, message, {
    metadata,
    fieldViolations,
    retryAfterSeconds,
    cause: error,
  });
}

/** True for errors thrown by a grpc-js client call. */
export function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error && typeof (error as Partial<ServiceError>).code === "number" && "metadata" in error
  );
}
