import { AuthServiceService, Role } from "@parley/proto/parley/auth/v1/auth";
import type { JSONWebKeySet } from "jose";
import { createServiceClient } from "../grpc/client";
import type { StaffActionRecorder } from "../grpc/server";
import { recordableRequest } from "../secrets";
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
    // A service started beside auth (or while auth restarts) waits for it, within the deadline,
    // rather than failing its first token check at once while the channel is reconnecting.
    // API keys and staff actions are asked for per request: those fail at once as before.
    waitForReady: ["getJwks", "issueServiceToken", "listRevocations"],
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
    async recordStaffAction(action, callerToken) {
      await auth.recordStaffAction(
        {
          ...action,
          actorRole:
            Role[`ROLE_${action.actorRole.toUpperCase()}` as keyof typeof Role] ?? Role.ROLE_UNSPECIFIED,
        },
        { bearerToken: await callerToken() },
      );
    },
    close: () => auth.close(),
  };
}

/**
 * The kit server's `recordStaffAction` for a service other than auth: the staff call (done, or
 * refused by the permission map), its target and reason as its StaffAction finds them, and the
 * request (int64 as strings, secrets left out) go to auth's audit log as the service itself.
 */
export function staffActionRecorder(
  directory: Pick<AuthDirectory, "recordStaffAction">,
  callerToken: () => Promise<string>,
): StaffActionRecorder {
  return async (ctx, event) => {
    if (ctx.principal.kind !== "user") return;
    if (!directory.recordStaffAction) throw new Error("this auth directory cannot record staff actions");
    await directory.recordStaffAction(
      {
        actorUserId: ctx.principal.userId,
        actorRole: ctx.principal.role,
        action: event.action,
        method: ctx.method,
        targetUserId: event.targetUserId,
        reason: event.reason,
        request: recordableRequest(event.request),
        requestId: ctx.requestId,
        denied: event.outcome === "denied",
      },
      callerToken,
    );
  };
}
