import type { Metadata } from "@grpc/grpc-js";
import { LRUCache } from "lru-cache";
import { unauthenticated } from "../errors";
import { ANONYMOUS, type PartnerPrincipal, type Principal } from "./principal";
import type { TokenVerifier } from "./token-verifier";

/** Turns a call's metadata into the caller's identity. */
export type Authenticator = (metadata: Metadata) => Promise<Principal>;

export interface AuthenticatorOptions {
  tokens: TokenVerifier;
  /** Checks a partner API key (auth.VerifyApiKey, or auth's own store inside auth). */
  verifyApiKey?: (apiKey: string) => Promise<PartnerPrincipal>;
}

const first = (metadata: Metadata, key: string): string | undefined => {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : undefined;
};

/**
 * Reads `authorization: Bearer <jwt>` or `x-api-key`. No credentials → anonymous (the
 * permission map decides); credentials that don't verify → UNAUTHENTICATED, never anonymous.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return async (metadata) => {
    const authorization = first(metadata, "authorization");
    if (authorization) {
      const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(authorization);
      if (!match) throw unauthenticated("TOKEN_INVALID", "authorization must be 'Bearer <token>'");
      return options.tokens.verify(match[1]!);
    }
    const apiKey = first(metadata, "x-api-key");
    if (apiKey) {
      if (!options.verifyApiKey) throw unauthenticated("API_KEY_INVALID", "API keys are not accepted here");
      return options.verifyApiKey(apiKey);
    }
    return ANONYMOUS;
  };
}

/**
 * Remembers API-key verifications briefly (successes only), so a partner's burst of calls
 * costs one VerifyApiKey round trip; a revoked key stops working within `ttlMs`.
 */
export function cacheApiKeyVerifier(
  verify: (apiKey: string) => Promise<PartnerPrincipal>,
  ttlMs = 30_000,
): (apiKey: string) => Promise<PartnerPrincipal> {
  const cache = new LRUCache<string, PartnerPrincipal>({ max: 10_000, ttl: ttlMs });
  return async (apiKey) => {
    const hit = cache.get(apiKey);
    if (hit) return hit;
    const principal = await verify(apiKey);
    cache.set(apiKey, principal);
    return principal;
  };
}
