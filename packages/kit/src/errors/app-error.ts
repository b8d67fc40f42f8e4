import { status } from "@grpc/grpc-js";

/**
 * What went wrong, in the words of the gRPC canonical codes: each kind maps to exactly
 * one code, so a domain function can say "not found" without knowing about gRPC.
 */
export const ERROR_KINDS = {
  cancelled: status.CANCELLED,
  invalid_argument: status.INVALID_ARGUMENT,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  permission_denied: status.PERMISSION_DENIED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  out_of_range: status.OUT_OF_RANGE,
  unimplemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
  unavailable: status.UNAVAILABLE,
  unauthenticated: status.UNAUTHENTICATED,
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

/** One invalid request field, reported as a google.rpc.BadRequest field violation. */
export interface FieldViolation {
  field: string;
  description: string;
}

export interface AppErrorOptions {
  /** Extra machine-readable facts for the caller (ErrorInfo metadata; values are strings). */
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
  /** For RESOURCE_EXHAUSTED: when the caller may try again (google.rpc.RetryInfo). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/**
 * The one error type domain code throws. `reason` is a stable UPPER_SNAKE_CASE value that
 * callers branch on (google.rpc.ErrorInfo.reason); `message` is for humans.
 */
export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly reason: string;
  readonly metadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, reason: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.kind = kind;
    this.reason = reason;
    this.metadata = options.metadata ?? {};
    this.fieldViolations = options.fieldViolations ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get code(): number {
    return ERROR_KINDS[this.kind];
  }
}

type Factory = (reason: string, message: string, options?: AppErrorOptions) => AppError;
const factory =
  (kind: ErrorKind): Factory =>
  (reason, message, options) =>
    new AppError(kind, reason, message, options);

export const invalidArgument = factory("invalid_argument");
export const notFound = factory("not_found");
export const alreadyExists = factory("already_exists");
export const permissionDenied = factory("permission_denied");
export const unauthenticated = factory("unauthenticated");
export const failedPrecondition = factory("failed_precondition");
export const resourceExhausted = factory("resource_exhausted");
export const aborted = factory("aborted");
export const unavailable = factory("unavailable");
export const internal = factory("internal");

/** INVALID_ARGUMENT with one field violation per bad field (reason VALIDATION_FAILED). */
export function validationFailed(fieldViolations: FieldViolation[]): AppError {
  const fields = fieldViolations.map((v) => v.field).join(", ");
  return new AppError("invalid_argument", "VALIDATION_FAILED", `invalid fields: ${fields}`, {
    fieldViolations,
  });
}

/** An AppError; with `reason`, one with that reason (a downstream refusal to branch on). */
export function isAppError(error: unknown, reason?: string): error is AppError {
  return error instanceof AppError && (reason === undefined || error.reason === reason);
}
