import { type AppError, aborted, unavailable } from "./app-error";

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
 * SQLSTATEs of a transaction that lost to a concurrent one: serialization failure, deadlock, a
 * lock not available (NOWAIT, lock_timeout). Not a statement cancelled by its timeout: it would
 * be as slow again.
 */
const CONFLICT_STATES = new Set(["40001", "40P01", "55P03"]);

/**
 * What a database failure means to the caller, when `error` — or what it wraps, as drizzle wraps
 * driver errors — says: UNAVAILABLE DATABASE_UNAVAILABLE when the connection was lost or could
 * not be made; ABORTED DATABASE_CONFLICT when the transaction lost to a concurrent one (a
 * deadlock, say); both retryable (RetryInfo 1 s): writes are transactions (all or nothing) and
 * the ones that matter are idempotent by key. Undefined for any other error.
 */
export function databaseError(error: unknown): AppError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECTION_ERRORS.has(code) || UNAVAILABLE_STATES.test(code)))
      return unavailable("DATABASE_UNAVAILABLE", "the database is unreachable; retry shortly", {
        retryAfterSeconds: 1,
        cause: error,
      });
    if (typeof code === "string" && CONFLICT_STATES.has(code))
      return aborted("DATABASE_CONFLICT", "a concurrent change got in the way; retry", {
        retryAfterSeconds: 1,
        cause: error,
      });
    current = current.cause;
  }
  return undefined;
}
