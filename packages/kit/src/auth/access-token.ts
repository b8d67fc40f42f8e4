import { type CryptoKey, type JWTPayload, SignJWT } from "jose";
import type { Assurance, Principal, Role } from "./principal";

/**
 * The access-token format, defined once: auth signs with it, every verifier reads it.
 * RFC 9068 style: header typ "at+jwt", alg pinned, kid a pure lookup key.
 */
export const ACCESS_TOKEN_TYPE = "at+jwt";
export const ACCESS_TOKEN_ALGORITHM = "ES256";
export const MAX_ACCESS_TOKEN_SECONDS = 15 * 60;

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  role: Role;
  /** Login session id (absent for service tokens). */
  sid?: string;
  /** Assurance level: aal1 password, aal2 password + second factor. */
  acr?: Assurance;
  /** Authentication methods used: ["pwd"], ["pwd", "otp"], ["svc"]. */
  amr?: string[];
  /** Partner on whose behalf the token was exchanged (ExchangeToken). */
  partner_id?: string;
}

export interface SignAccessTokenOptions {
  key: CryptoKey;
  kid: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  claims: AccessTokenClaims;
  now?: Date;
}

export async function signAccessToken(options: SignAccessTokenOptions): Promise<string> {
  const ttl = Math.min(options.ttlSeconds, MAX_ACCESS_TOKEN_SECONDS);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT(options.claims)
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, kid: options.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(crypto.randomUUID())
    .sign(options.key);
}

/** Service identities are subjects of the form "service:<name>". */
export const SERVICE_SUBJECT_PREFIX = "service:";

export function principalFromClaims(claims: AccessTokenClaims): Principal {
  if (claims.role === "service") {
    if (!claims.sub.startsWith(SERVICE_SUBJECT_PREFIX)) return { kind: "anonymous" };
    return { kind: "service", service: claims.sub.slice(SERVICE_SUBJECT_PREFIX.length) };
  }
  return {
    kind: "user",
    userId: claims.sub,
    role: claims.role,
    sessionId: claims.sid ?? "",
    assurance: claims.acr ?? "aal1",
    ...(claims.partner_id ? { partnerId: claims.partner_id } : {}),
  };
}
