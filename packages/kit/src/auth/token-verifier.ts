import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { unauthenticated } from "../errors";
import {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  principalFromClaims,
} from "./access-token";
import { type Principal, ROLES } from "./principal";

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Fetches the current public key set (auth.GetJwks, or a static set in tests). */
  fetchJwks: () => Promise<JSONWebKeySet>;
  /** Minimum time between two JWKS fetches triggered by an unknown kid. */
  refreshCooldownMs?: number;
  /** How many verified tokens to remember (each until its own expiry). */
  cacheSize?: number;
  clockToleranceSeconds?: number;
  now?: () => Date;
}

export interface TokenVerifier {
  /** The principal a valid access token names; UNAUTHENTICATED for anything else. */
  verify(token: string): Promise<Principal>;
}

/**
 * Verifies access tokens: algorithm pinned (never taken from the token), iss, aud, exp and
 * header typ checked; kid used only to look a key up in the fetched set. An unknown kid
 * refetches the set at most once per cooldown (a rotated key appears without a restart,
 * and junk kids cannot make us hammer auth). Verified tokens are cached until they expire.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const cooldownMs = options.refreshCooldownMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const cache = new LRUCache<string, { principal: Principal; expiresAtMs: number }>({
    max: options.cacheSize ?? 10_000,
  });
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let lastFetchMs = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    inflight ??= options
      .fetchJwks()
      .then((jwks) => {
        keySet = createLocalJWKSet(jwks);
        lastFetchMs = Date.now();
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  const verifyOnce = async (token: string) => {
    if (!keySet) await refresh();
    return jwtVerify<AccessTokenClaims>(token, keySet!, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ["sub", "exp", "iat"],
      clockTolerance: options.clockToleranceSeconds ?? 5,
      currentDate: now(),
    });
  };

  return {
    async verify(token) {
      const cached = cache.get(token);
      if (cached && cached.expiresAtMs > now().getTime()) return cached.principal;
      let result: Awaited<ReturnType<typeof verifyOnce>>;
      try {
        try {
          result = await verifyOnce(token);
        } catch (error) {
          if (!(error instanceof errors.JWKSNoMatchingKey) || Date.now() - lastFetchMs < cooldownMs)
            throw error;
          await refresh();
          result = await verifyOnce(token);
        }
      } catch (error) {
        if (error instanceof errors.JOSEError) {
          throw unauthenticated("TOKEN_INVALID", "the access token is invalid or expired");
        }
        throw error;
      }
      const claims = result.payload;
      if (!ROLES.includes(claims.role))
        throw unauthenticated("TOKEN_INVALID", "the access token has no valid role");
      const principal = principalFromClaims(claims);
      if (principal.kind === "anonymous")
        throw unauthenticated("TOKEN_INVALID", "the access token is malformed");
      cache.set(token, { principal, expiresAtMs: (claims.exp ?? 0) * 1000 });
      return principal;
    },
  };
}
