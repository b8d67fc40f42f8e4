import {
  type AccessTokenClaims,
  createTokenVerifier,
  type PersonRole,
  SERVICE_SUBJECT_PREFIX,
  signAccessToken,
  type TokenVerifier,
} from "@parley/kit/auth";
import { newId } from "@parley/kit/ids";
import { exportJWK, generateKeyPair, type JSONWebKeySet } from "jose";

/**
 * A throwaway signing key that mints access tokens in exactly auth's format, so a service
 * can be tested on its own with real signed tokens (no auth service, no mocks of verify).
 */
export interface TestIssuer {
  issuer: string;
  audience: string;
  jwks: JSONWebKeySet;
  verifier: TokenVerifier;
  sign(claims: AccessTokenClaims, ttlSeconds?: number): Promise<string>;
  /** A person's token; a fresh user id when none is given. */
  userToken(options?: { userId?: string; role?: PersonRole; partnerId?: string }): Promise<string>;
  serviceToken(service: string): Promise<string>;
}

export async function createTestIssuer(
  issuer = "https://auth.parley.test",
  audience = "parley",
): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `test-${newId()}`;
  const jwks: JSONWebKeySet = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] };
  const sign = (claims: AccessTokenClaims, ttlSeconds = 300) =>
    signAccessToken({ key: privateKey, kid, issuer, audience, ttlSeconds, claims });
  return {
    issuer,
    audience,
    jwks,
    verifier: createTokenVerifier({ issuer, audience, fetchJwks: async () => jwks }),
    sign,
    userToken: ({ userId = newId(), role = "user", partnerId } = {}) =>
      sign({
        sub: userId,
        role,
        sid: newId(),
        acr: "aal1",
        amr: ["pwd"],
        ...(partnerId ? { partner_id: partnerId } : {}),
      }),
    serviceToken: (service) =>
      sign({ sub: `${SERVICE_SUBJECT_PREFIX}${service}`, role: "service", amr: ["svc"] }),
  };
}
