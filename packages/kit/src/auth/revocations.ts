import { unauthenticated } from "../errors";
import { MAX_ACCESS_TOKEN_SECONDS } from "./access-token";
import type { Principal } from "./principal";

/** Credentials auth revoked before their natural end (auth.ListRevocations). */
export interface Revocation {
  seq: bigint;
  /**
   * `user:<id>`: every token of that person issued up to revokedAt; `session:<id>`: every token
   * of that login session (logged out, revoked, ended by a password change); `api_key:<id>`: that key.
   */
  subject: string;
  /** account_suspended, account_deleted, role_changed, logout, revoked, api_key_revoked, …. */
  reason: string;
  revokedAt: Date;
}

/** How long a revocation matters: no token issued before it can still be valid after this. */
const RELEVANT_MS = (MAX_ACCESS_TOKEN_SECONDS + 60) * 1000;

/**
 * What a verifier knows of revoked credentials, kept in memory and refreshed by a poll of
 * auth (watchRevocations): `check` refuses a token whose person was suspended or deleted after
 * it was issued, and a revoked API key, before any cache of theirs expires.
 */
export interface RevocationList {
  /**
   * Throws UNAUTHENTICATED for revoked credentials: the person's revocation's reason in capitals
   * (ACCOUNT_SUSPENDED, ROLE_CHANGED, …), SESSION_REVOKED, or API_KEY_INVALID.
   */
  check(principal: Principal, issuedAtSeconds: number): void;
  apply(revocations: readonly Revocation[]): void;
  /**
   * Called with each revocation of a person or of a login session as it becomes known, with when
   * it took effect: the edge closes the person's sockets signed in with a token issued before
   * then, or the session's sockets.
   */
  onRevoked(listener: RevocationListener): () => void;
  /** The largest seq applied (the poll's cursor). */
  readonly cursor: bigint;
}

/** Who a revocation names: a person (their tokens issued up to its time), or one login session. */
export type Revoked = { userId: string } | { sessionId: string };

export type RevocationListener = (revoked: Revoked, reason: string, revokedAt: Date) => void;

const revokedBy = (subject: string): Revoked | undefined =>
  subject.startsWith("user:")
    ? { userId: subject.slice("user:".length) }
    : subject.startsWith("session:")
      ? { sessionId: subject.slice("session:".length) }
      : undefined;

export function createRevocationList(
  now: () => Date = () => new Date(),
  /** A listener that throws (a bug of its own): told here, and the other listeners still hear. */
  onListenerError: (error: unknown) => void = () => undefined,
): RevocationList {
  const subjects = new Map<string, { at: number; reason: string }>();
  const listeners = new Set<RevocationListener>();
  let cursor = 0n;
  const forgetOld = () => {
    const horizon = now().getTime() - RELEVANT_MS;
    for (const [subject, entry] of subjects) if (entry.at < horizon) subjects.delete(subject);
  };
  return {
    get cursor() {
      return cursor;
    },
    check(principal, issuedAtSeconds) {
      if (subjects.size === 0) return;
      if (principal.kind === "user") {
        const entry = subjects.get(`user:${principal.userId}`);
        if (entry && issuedAtSeconds * 1000 <= entry.at)
          throw unauthenticated(
            entry.reason.toUpperCase(),
            entry.reason === "account_suspended"
              ? "this account is suspended; contact support"
              : "this account's credentials were revoked; sign in again",
          );
        // A login session ended (logout, revoked, a password change): its access tokens end too,
        // not only its refresh token.
        if (principal.sessionId && subjects.has(`session:${principal.sessionId}`))
          throw unauthenticated("SESSION_REVOKED", "this sign-in was ended; sign in again");
      } else if (principal.kind === "partner" && subjects.has(`api_key:${principal.keyId}`)) {
        throw unauthenticated("API_KEY_INVALID", "the API key was revoked");
      }
    },
    apply(revocations) {
      for (const revocation of revocations) {
        if (revocation.seq > cursor) cursor = revocation.seq;
        const at = revocation.revokedAt.getTime();
        const known = subjects.get(revocation.subject);
        if (known && known.at >= at) continue;
        subjects.set(revocation.subject, { at, reason: revocation.reason });
        const revoked = revokedBy(revocation.subject);
        if (!revoked) continue;
        // Each listener hears every revocation, whatever another one throws.
        for (const listener of listeners)
          try {
            listener(revoked, revocation.reason, revocation.revokedAt);
          } catch (error) {
            onListenerError(error);
          }
      }
      forgetOld();
    },
    onRevoked(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export interface RevocationWatch {
  /** Resolves after the first successful poll (or at once when it failed; polling goes on). */
  ready: Promise<void>;
  stop(): void;
}

/**
 * Keeps a revocation list current by asking auth every `intervalMs` for what was revoked after
 * the list's cursor. A failed poll keeps what is known and tries again next time.
 */
export function watchRevocations(
  list: RevocationList,
  fetch: (afterSeq: bigint) => Promise<Revocation[]>,
  options: { intervalMs: number; onError?: (error: unknown) => void; onSuccess?: () => void },
): RevocationWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      for (let page = 0; page < 100; page++) {
        const found = await fetch(list.cursor);
        list.apply(found);
        if (found.length < 1000) break;
      }
      options.onSuccess?.();
    } catch (error) {
      options.onError?.(error);
    }
  };
  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void poll().finally(loop);
    }, options.intervalMs);
    timer.unref();
  };
  const ready = poll().finally(loop);
  return {
    ready,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
