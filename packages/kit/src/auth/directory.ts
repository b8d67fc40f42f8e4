import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import type { JSONWebKeySet } from "jose";
import { createServiceClient } from "../grpc/client";
import type { AuthDirectory } from "./platform";

/**
 * Auth's directory over gRPC: the JWKS, partner API keys and service tokens every other
 * service needs. One channel per process; the token verifier and the API-key cache in
 * createPlatformIdentity keep the calls rare.
 */
export function connectAuthDirectory(address: string): AuthDirectory & { close(): void } {
  const auth = createServiceClient(AuthServiceService, {
    address,
    defaultDeadlineMs: 5_000,
    idempotent: ["getJwks", "verifyApiKey", "issueServiceToken", "listRevocations"],
  });
  return {
    async getJwks() {
      const { keys } = await auth.getJwks({});
      return { keys: keys.map((key) => ({ ...key })) } as JSONWebKeySet;
    },
    async verifyApiKey(apiKey, callerToken) {
      const key = await auth.verifyApiKey({ apiKey }, { bearerToken: await callerToken() });
      return { kind: "partner", partnerId: key.partnerId, keyId: key.keyId, scopes: key.scopes };
    },
    async issueServiceToken(serviceName, secret) {
      const issued = await auth.issueServiceToken({ serviceName, secret });
      return { token: issued.accessToken, expiresAt: issued.expireTime ?? new Date() };
    },
    async listRevocations(afterSeq, callerToken) {
      const { revocations } = await auth.listRevocations({ afterSeq }, { bearerToken: await callerToken() });
      return revocations.map((r) => ({
        seq: r.seq,
        subject: r.subject,
        reason: r.reason,
        revokedAt: r.revokeTime ?? new Date(0),
      }));
    },
    close: () => auth.close(),
  };
}
