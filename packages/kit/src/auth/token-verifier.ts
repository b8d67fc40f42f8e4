import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { unauthenticated, unavailable } from "../errors";
import {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  MAX_ACCESS_TOKEN_SECONDS,
  principalFromClaims,
} from "./access-token";
import { type Principal, ROLES } from "./principal";
import type { RevocationList } from "./revocations";

/** A JWS in compact serialisation: three base64url parts, nothing else. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Fetches the current public key set (auth.GetJwks, or a static set in tests). */
  fetchJwks: () => Promise<JSONWebKeySet>;
  /** Minimum time between two JWKS fetches triggered by an unknown kid (or after a failed fetch). */
  refreshCooldownMs?: number;
  /** Age after which the key set is refetched in the background, so retired keys drop out. */
  maxKeySetAgeMs?: number;
  /** How many verified tokens to remember (each until its own expiry). */
  cacheSize?: number;
  clockToleranceSeconds?: number;
  /**
   * The longest life (exp − iat) a token may claim; longer ones are refused even when correctly
   * signed, so a leaked signing key or a signing bug cannot mint long-lived credentials.
   * Defaults to MAX_ACCESS_TOKEN_SECONDS, the most auth ever signs.
   */
  maxLifetimeSeconds?: number;
  now?: () => Date;
  /** Credentials revoked before they expire (suspended or deleted people): refused even when cached. */
  revocations?: RevocationList;
}

export interface TokenVerifier {
  /** The principal a valid access token names; UNAUTHENTICATED for anything else. */
  verify(token: string): Promise<Principal>;
}

const FIRST_FETCH_RETRY_MS = 1000;

/**
 * Verifies access tokens: algorithm pinned (never taken from the token), iss, aud, exp and
 * header typ checked; iat required, not in the future, and exp − iat at most the maximum
 * lifetime (both within the clock tolerance); kid used only to look a key up in the fetched set. An unknown kid
 * refetches the set at most once per cooldown, and so does a failed fetch (a rotated key
 * appears without a restart; junk kids or an auth outage cannot make us hammer auth). The
 * set is also refreshed in the background once it is older than maxKeySetAgeMs, so a
 * retired key stops verifying. Verified tokens are cached until they expire.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const cooldownMs = options.refreshCooldownMs ?? 30_000;
  const maxAgeMs = options.maxKeySetAgeMs ?? 10 * 60_000;
  const now = options.now ?? (() => new Date());
  const toleranceSeconds = options.clockToleranceSeconds ?? 5;
  const maxLifetimeSeconds = options.maxLifetimeSeconds ?? MAX_ACCESS_TOKEN_SECONDS;
  const cache = new LRUCache<string, { principal: Principal; expiresAtMs: number; issuedAt: number }>({
    max: options.cacheSize ?? 10_000,
  });
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAtMs = Number.NEGATIVE_INFINITY;
  let attemptedAtMs = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    if (!inflight) {
      attemptedAtMs = now().getTime();
      inflight = options
        .fetchJwks()
        .then((jwks) => {
          keySet = createLocalJWKSet(jwks);
          fetchedAtMs = now().getTime();
        })
        .finally(() => {
          inflight = undefined;
        });
    }
    return inflight;
  };
  const coolingDown = () => now().getTime() - attemptedAtMs < cooldownMs;

  const currentKeySet = async () => {
    if (!keySet) {
      // Without any keys nothing verifies: retry soon, but not on every request.
      if (!inflight && now().getTime() - attemptedAtMs < Math.min(cooldownMs, FIRST_FETCH_RETRY_MS))
        throw unavailable("JWKS_UNAVAILABLE", "the token signing keys could not be fetched; retry shortly");
      await refresh();
    } else if (now().getTime() - fetchedAtMs > maxAgeMs && !coolingDown()) {
      // Failures are retried after the cooldown; the keys in hand keep verifying meanwhile.
      refresh().catch(() => undefined);
    }
    return keySet!;
  };

  const verifyWith = (keys: NonNullable<typeof keySet>, token: string) =>
    jwtVerify<AccessTokenClaims>(token, keys, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ["sub", "exp", "iat"],
      clockTolerance: toleranceSeconds,
      currentDate: now(),
    });

  return {
    async verify(token) {
      // Only the compact form: the decoder skips whitespace, so a token with a tab in it would
      // verify, then fail as a header value (gRPC metadata refuses it) wherever it is passed on.
      if (!COMPACT_JWS.test(token)) throw unauthenticated("TOKEN_INVALID", "the access token is malformed");
      const cached = cache.get(token);
      if (cached && cached.expiresAtMs > now().getTime()) {
        options.revocations?.check(cached.principal, cached.issuedAt);
        return cached.principal;
      }
      let result: Awaited<ReturnType<typeof verifyWith>>;
      try {
        const keys = await currentKeySet();
        try {
          result = await verifyWith(keys, token);
        } catch (error) {
          if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
          // A refresh under way (or just finished) may bring the key; else fetch unless cooling down.
          if (inflight !== undefined) await inflight.catch(() => undefined);
          else if (keySet === keys) {
            if (coolingDown()) throw error;
            await refresh();
          }
          result = await verifyWith(keySet!, token);
        }
      } catch (error) {
        if (error instanceof errors.JOSEError) {
          throw unauthenticated("TOKEN_INVALID", "the access token is invalid or expired");
        }
        throw error;
      }
      const claims = result.payload;
      const { iat = Number.NaN, exp = Number.NaN } = claims;
      if (!(iat <= now().getTime() / 1000 + toleranceSeconds))
        throw unauthenticated("TOKEN_INVALID", "the access token is issued in the future");
      if (!(exp - iat <= maxLifetimeSeconds + toleranceSeconds))
        throw unauthenticated("TOKEN_INVALID", "the access token claims a longer life than tokens have");
      if (!ROLES.includes(claims.role))
        throw unauthenticated("TOKEN_INVALID", "the access token has no valid role");
      const principal = principalFromClaims(claims);
      if (principal.kind === "anonymous")
        throw unauthenticated("TOKEN_INVALID", "the access token is malformed");
      options.revocations?.check(principal, iat);
      cache.set(token, { principal, expiresAtMs: exp * 1000, issuedAt: iat });
      return principal;
    },
  };
}
