import type { BlockList } from "node:net";
import { invalidArgument } from "@parley/kit/errors";
import type { CallContext, Handlers } from "@parley/kit/grpc";
import { requireUuid } from "@parley/kit/ids";
import { cursors, type Paging } from "@parley/kit/paging";
import { MAX_REASON_LENGTH, requireReason } from "@parley/kit/staff-reason";
import type { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import type { Accounts } from "../domain/accounts";
import type { ApiKeys } from "../domain/api-keys";
import type { StaffAudit } from "../domain/audit";
import type { Mfa } from "../domain/mfa";
import type { createServiceIdentities } from "../domain/service-identities";
import type { Sessions } from "../domain/sessions";
import type { KeyRing } from "../domain/signing-keys";
import { staffCall } from "./backoffice";
import {
  accountMessage,
  apiKeyMessage,
  clientInfo,
  roleFromProto,
  sessionMessage,
  tokenPairMessage,
} from "./mapping";

export interface AuthDomain {
  audit: StaffAudit;
  accounts: Accounts;
  sessions: Sessions;
  mfa: Mfa;
  apiKeys: ApiKeys;
  services: ReturnType<typeof createServiceIdentities>;
  keys: KeyRing;
  trustedPeers: BlockList;
  paging: Paging;
}

const PAGE_SIZES = { default: 20, max: 100 };

export function authHandlers(domain: AuthDomain): Handlers<typeof AuthServiceService> {
  const { accounts, sessions, mfa, apiKeys, keys, paging } = domain;
  const client = (ctx: Parameters<typeof clientInfo>[0], deviceName = "") =>
    clientInfo(ctx, deviceName, domain.trustedPeers);

  /** Staff actions outside the back office are on the record too (after they succeed). */
  const recordStaff = (
    ctx: CallContext,
    action: string,
    after: Record<string, unknown>,
    targetUserId: string | null = null,
  ) =>
    ctx.principal.kind === "user"
      ? domain.audit.append([
          domain.audit.done({ ...staffCall(ctx), action }, { targetUserId, reason: "", before: null, after }),
        ])
      : Promise.resolve();

  return {
    async register(request, ctx) {
      const { account, tokens } = await accounts.register({
        email: request.email,
        phone: request.phone,
        password: request.password,
        displayName: request.displayName,
        client: client(ctx, request.deviceName),
      });
      return { account: accountMessage(account), tokens: tokenPairMessage(tokens) };
    },

    async login(request, ctx) {
      const outcome = await accounts.login({
        identifier: request.identifier,
        password: request.password,
        client: client(ctx, request.deviceName),
      });
      return "tokens" in outcome
        ? { result: { $case: "tokens", value: tokenPairMessage(outcome.tokens) } }
        : {
            result: {
              $case: "mfaChallenge",
              value: {
                challengeToken: outcome.challenge.challengeToken,
                methods: outcome.challenge.methods,
                expireTime: outcome.challenge.expiresAt,
              },
            },
          };
    },

    async completeMfaLogin(request) {
      return {
        tokens: tokenPairMessage(await accounts.completeMfaLogin(request.challengeToken, request.code)),
      };
    },

    async refreshToken(request) {
      return { tokens: tokenPairMessage(await sessions.refresh(request.refreshToken)) };
    },

    async logout(_request, ctx) {
      await sessions.logout(ctx.principal);
      return {};
    },

    async listSessions(request, ctx) {
      const caller = ctx.principal.kind === "user" ? ctx.principal.userId : "";
      const page = paging.open(request, {
        query: ["auth.ListSessions", caller],
        sizes: PAGE_SIZES,
        cursor: cursors.timeAndId,
      });
      const listed = await sessions.list(ctx.principal, page.size, page.after);
      return {
        sessions: listed.sessions.map(({ session, current }) => sessionMessage(session, current)),
        nextPageToken: page.next(listed.nextCursor),
      };
    },

    async revokeSession(request, ctx) {
      const sessionId = requireUuid(request.sessionId, "session_id");
      const owner = await sessions.revoke(ctx.principal, sessionId);
      // An admin ending someone else's session.
      if (ctx.principal.kind === "user" && owner !== ctx.principal.userId)
        await recordStaff(ctx, "session.revoke", { session_id: sessionId }, owner);
      return {};
    },

    async changePassword(request, ctx) {
      const revoked = await accounts.changePassword(
        ctx.principal,
        request.currentPassword,
        request.newPassword,
      );
      return { revokedSessions: revoked };
    },

    async requestPasswordReset(request, ctx) {
      await accounts.requestPasswordReset(request.identifier, client(ctx));
      return {};
    },

    async resetPassword(request, ctx) {
      await accounts.resetPassword({
        resetToken: request.resetToken,
        newPassword: request.newPassword,
        mfaCode: request.mfaCode,
        client: client(ctx),
      });
      return {};
    },

    async enrollTotp(_request, ctx) {
      return mfa.enroll(ctx.principal);
    },

    async confirmTotp(request, ctx) {
      return { backupCodes: await mfa.confirm(ctx.principal, request.password, request.code) };
    },

    async disableTotp(request, ctx) {
      await mfa.disable(ctx.principal, request.password, request.code);
      return {};
    },

    async regenerateBackupCodes(request, ctx) {
      return { backupCodes: await mfa.regenerateBackupCodes(ctx.principal, request.code) };
    },

    async createApiKey(request, ctx) {
      const { key, secret } = await apiKeys.create(ctx.principal, {
        partnerId: request.partnerId,
        name: request.name,
        scopes: request.scopes,
        expiresAt: request.expireTime,
        requestId: request.requestId,
      });
      await recordStaff(ctx, "api_key.create", {
        key_id: key.id,
        partner_id: key.partnerId,
        scopes: key.scopes,
      });
      return { apiKey: apiKeyMessage(key), secret };
    },

    async listApiKeys(request) {
      const page = paging.open(request, {
        query: ["auth.ListApiKeys", request.partnerId],
        sizes: PAGE_SIZES,
        cursor: cursors.timeAndId,
      });
      const listed = await apiKeys.list(request.partnerId, page.size, page.after);
      return { apiKeys: listed.keys.map(apiKeyMessage), nextPageToken: page.next(listed.nextCursor) };
    },

    async revokeApiKey(request, ctx) {
      const key = await apiKeys.revoke(request.keyId);
      await recordStaff(ctx, "api_key.revoke", { key_id: key.id, partner_id: key.partnerId });
      return { apiKey: apiKeyMessage(key) };
    },

    async verifyApiKey(request) {
      const key = await apiKeys.verify(request.apiKey);
      return { keyId: key.keyId, partnerId: key.partnerId, scopes: key.scopes };
    },

    async exchangeToken(request, ctx) {
      const { userId, tokens } = await apiKeys.exchange(ctx.principal, request.externalId, client(ctx));
      return { userId, tokens: tokenPairMessage(tokens) };
    },

    async getJwks() {
      const { keys: published } = await keys.jwks();
      return {
        keys: published.map((key) => ({
          kty: key.kty ?? "",
          crv: key.crv ?? "",
          x: key.x ?? "",
          y: key.y ?? "",
          kid: key.kid ?? "",
          alg: key.alg ?? "",
          use: key.use ?? "",
        })),
      };
    },

    async rotateSigningKey(_request, ctx) {
      const key = await keys.rotate();
      await recordStaff(ctx, "signing_key.rotate", { kid: key.kid });
      return { kid: key.kid, activateTime: key.activatesAt };
    },

    async listRevocations(request) {
      const revocations = await domain.sessions.revocations(request.afterSeq);
      return {
        revocations: revocations.map((r) => ({
          seq: r.seq,
          subject: r.subject,
          reason: r.reason,
          revokeTime: r.revokedAt,
        })),
      };
    },

    async recordStaffAction(request, ctx) {
      if (!request.action || !request.method)
        throw invalidArgument("VALIDATION_FAILED", "action and method are required", {
          fieldViolations: [{ field: "action", description: "required" }],
        });
      const actor = {
        kind: "user" as const,
        userId: requireUuid(request.actorUserId, "actor_user_id"),
        role: roleFromProto(request.actorRole, "actor_role"),
        sessionId: "",
        assurance: "aal1" as const,
      };
      const event = domain.audit.done(
        {
          actor,
          method: request.method,
          requestId: request.requestId || ctx.requestId,
          action: request.action,
        },
        {
          targetUserId: request.targetUserId ? requireUuid(request.targetUserId, "target_user_id") : null,
          reason: request.reason.slice(0, MAX_REASON_LENGTH),
          before: null,
          after: request.request ?? null,
        },
      );
      // A call the service's permission map refused: recorded with what it asked for.
      await domain.audit.append([request.denied ? { ...event, outcome: "denied" } : event]);
      return {};
    },

    async issueServiceToken(request, ctx) {
      const { token, expiresAt } = await domain.services.issue(
        request.serviceName,
        request.secret,
        client(ctx).ipAddress,
      );
      return { accessToken: token, expireTime: expiresAt };
    },

    async setUserRole(request, ctx) {
      const call = staffCall(ctx);
      const role = roleFromProto(request.role, "role");
      const reason = requireReason(request.reason);
      const account = await accounts.setRole(request.userId, role, (before) =>
        domain.audit.done(
          { ...call, action: "role.set" },
          {
            targetUserId: request.userId.toLowerCase(),
            reason,
            before: { role: before },
            after: { role },
          },
        ),
      );
      return { account: accountMessage(account) };
    },
  };
}
