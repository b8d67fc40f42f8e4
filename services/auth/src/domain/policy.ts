/** The knobs of auth's security behaviour, from the environment (see config.ts). */
export interface AuthPolicy {
  accessTokenTtlSeconds: number;
  /** A login session ends after this long without a refresh… */
  sessionIdleDays: number;
  /** …and after this long in any case. */
  sessionAbsoluteDays: number;
  /** A lost answer to RefreshToken may be retried this long with the spent token. */
  refreshRetrySeconds: number;
  mfaChallengeSeconds: number;
  resetTokenMinutes: number;
  /** Failed attempts per account (or identifier) in the window before it locks. */
  accountAttemptLimit: number;
  /** Attempts per client IP in the window. */
  ipAttemptLimit: number;
  attemptWindowSeconds: number;
}

export const DEFAULT_POLICY: AuthPolicy = {
  accessTokenTtlSeconds: 900,
  sessionIdleDays: 30,
  sessionAbsoluteDays: 90,
  refreshRetrySeconds: 10,
  mfaChallengeSeconds: 300,
  resetTokenMinutes: 30,
  accountAttemptLimit: 5,
  ipAttemptLimit: 100,
  attemptWindowSeconds: 900,
};
