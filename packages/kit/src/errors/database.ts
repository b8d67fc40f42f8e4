import { type AppError, unavailable } from "./app-error";

/** Connection errors of postgres.js and the socket under it: the query may never have run. */
const CONNECTION_ERRORS = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
/** SQLSTATEs of a server going away or refusing connections for now (class 08, shutdowns, full). */
const UNAVAILABLE_STATES = /^(08...|57P01|57P02|57P03|53300)$/;

/**
 * UNAVAILABLE (retryable, reason DATABASE_UNAVAILABLE) when `error` — or what it wraps, as
 * drizzle wraps driver errors — says the database connection was lost or could not be made;
 * undefined for any other error. A call that failed this way may be retried: writes are
 * transactions (all or nothing) and the ones that matter are idempotent by key.
 */
export function databaseUnavailable(error: unknown): AppError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECTION_ERRORS.has(code) || UNAVAILABLE_STATES.test(code)))
      return unavailable("DATABASE_UNAVAILABLE", "the database is unreachable; retry shortly", {
        retryAfterSeconds: 1,
        cause: error,
      });
    current = current.cause;
  }
  return undefined;
}
