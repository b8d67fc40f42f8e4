export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** A token this close to its expiry (at most a tenth of its life) is no longer handed out. */
const EXPIRY_MARGIN_MS = 30_000;
/** After a failed renewal, calls keep the current token this long before one tries again. */
const RENEW_RETRY_MS = 5_000;

/**
 * A service identity's current access token: fetched on first use, renewed when 80% of its
 * life has passed, one fetch at a time however many calls ask. While the current token is still
 * valid, a renewal runs beside the calls, which keep using it; if the renewal fails (auth down or
 * restarting) they go on using it and another is tried a little later. Only without a usable
 * token does a call wait for the fetch, and fail with it.
 */
export function createServiceTokenSource(
  fetchToken: () => Promise<IssuedToken>,
  clock: () => number = Date.now,
): () => Promise<string> {
  let current: { token: string; renewAtMs: number; usableUntilMs: number } | undefined;
  let inflight: Promise<string> | undefined;
  const renew = () => {
    inflight ??= fetchToken()
      .then(({ token, expiresAt }) => {
        const now = clock();
        const lifeMs = expiresAt.getTime() - now;
        current = {
          token,
          renewAtMs: now + lifeMs * 0.8,
          usableUntilMs: expiresAt.getTime() - Math.min(EXPIRY_MARGIN_MS, lifeMs * 0.1),
        };
        return token;
      })
      .catch((error: unknown) => {
        if (current) current.renewAtMs = clock() + RENEW_RETRY_MS;
        throw error;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  return () => {
    const now = clock();
    if (current && now < current.usableUntilMs) {
      if (now < current.renewAtMs) return Promise.resolve(current.token);
      // Renewed in the background; this call goes on with the token in hand.
      renew().catch(() => undefined);
      return Promise.resolve(current.token);
    }
    return renew();
  };
}
