export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/**
 * A service identity's current access token: fetched on first use, renewed when 80% of its
 * life has passed, one fetch at a time however many calls ask.
 */
export function createServiceTokenSource(fetchToken: () => Promise<IssuedToken>): () => Promise<string> {
  let current: { token: string; renewAtMs: number } | undefined;
  let inflight: Promise<string> | undefined;
  return () => {
    if (current && Date.now() < current.renewAtMs) return Promise.resolve(current.token);
    inflight ??= fetchToken()
      .then(({ token, expiresAt }) => {
        const lifeMs = expiresAt.getTime() - Date.now();
        current = { token, renewAtMs: Date.now() + lifeMs * 0.8 };
        return token;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
}
