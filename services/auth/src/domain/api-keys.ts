import { createHash } from "node:crypto";
import type { PartnerPrincipal, Principal } from "@parley/kit/auth";
import {
  alreadyExists,
  invalidArgument,
  notFound,
  permissionDenied,
  unauthenticated,
} from "@parley/kit/errors";
import { newId, requireUuid } from "@parley/kit/ids";
import { API_KEY_SCOPES, type ApiKey, type ClientInfo, type TokenPair } from "./model";
import type { AccountStore, ApiKeyStore, Cursor, SyncedUsers } from "./ports";
import { randomToken, type Secrets } from "./secrets";
import type { Sessions } from "./sessions";
import { requireText } from "./validation";

export interface ApiKeyDeps {
  store: ApiKeyStore & Pick<AccountStore, "ensurePartnerAccount">;
  secrets: Secrets;
  sessions: Sessions;
  syncedUsers: SyncedUsers;
  now: () => Date;
}

const PARTNER_ID = /^[a-z0-9_-]{1,64}$/;
/** last_used_at is written at most this often per key: verification stays a read. */
const TOUCH_INTERVAL_MS = 60_000;
const SECRET_PREFIX = "pk_";

/** Partner API keys: created by staff, shown once, verified for every service, exchanged for user tokens. */
export function createApiKeys(deps: ApiKeyDeps) {
  const { store, secrets, now } = deps;

  const invalidKey = () => unauthenticated("API_KEY_INVALID", "the API key is unknown, revoked or expired");

  return {
    async create(
      principal: Principal,
      input: {
        partnerId: string;
        name: string;
        scopes: string[];
        expiresAt: Date | undefined;
        requestId: string;
      },
    ): Promise<{ key: ApiKey; secret: string }> {
      if (principal.kind !== "user")
        throw permissionDenied("PERMISSION_DENIED", "only staff create API keys");
      if (!PARTNER_ID.test(input.partnerId))
        throw invalidArgument("VALIDATION_FAILED", "partner_id must be 1..64 of [a-z0-9_-]", {
          fieldViolations: [{ field: "partner_id", description: "must be 1..64 of [a-z0-9_-]" }],
        });
      const name = requireText(input.name, "name", 120);
      const requestId = requireText(input.requestId, "request_id", 128);
      const scopes = [...new Set(input.scopes)].sort();
      const unknown = scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
      if (scopes.length === 0 || unknown.length > 0)
        throw invalidArgument("UNKNOWN_SCOPE", `scopes must be some of ${API_KEY_SCOPES.join(", ")}`, {
          fieldViolations: [
            { field: "scopes", description: `unknown: ${unknown.join(", ") || "(none given)"}` },
          ],
        });
      if (input.expiresAt && input.expiresAt <= now())
        throw invalidArgument("VALIDATION_FAILED", "expire_time must be in the future", {
          fieldViolations: [{ field: "expire_time", description: "must be in the future" }],
        });
      const requestDigest = createHash("sha256")
        .update(JSON.stringify([input.partnerId, name, scopes, input.expiresAt?.toISOString() ?? null]))
        .digest("base64url");
      const secret = `${SECRET_PREFIX}${randomToken(32)}`;
      const result = await store.insertApiKey({
        id: newId(),
        partnerId: input.partnerId,
        name,
        prefix: secret.slice(0, SECRET_PREFIX.length + 8),
        scopes,
        createdAt: now(),
        expiresAt: input.expiresAt ?? null,
        revokedAt: null,
        lastUsedAt: null,
        secretHash: secrets.digest(secret),
        // Idempotency keys are scoped to the caller.
        requestId: `${principal.userId}:${requestId}`,
        requestDigest,
        createdBy: principal.userId,
      });
      if (result.requestDigest !== requestDigest)
        throw alreadyExists("IDEMPOTENCY_KEY_REUSED", "request_id was used for a different key");
      return { key: result.key, secret: result.created ? secret : "" };
    },

    /** API keys (of one partner, when given), newest first, `size` after the cursor. */
    async list(partnerId: string, size: number, after: Cursor | undefined) {
      const page = await store.listApiKeys(partnerId || undefined, size, after);
      return { keys: page.items, nextCursor: page.nextCursor };
    },

    async revoke(keyId: string): Promise<ApiKey> {
      const key = await store.revokeApiKey(requireUuid(keyId, "key_id"), now());
      if (!key) throw notFound("API_KEY_NOT_FOUND", "no such API key");
      return key;
    },

    async verify(secret: string): Promise<PartnerPrincipal> {
      if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) throw invalidKey();
      const digests = secrets.digests(secret);
      const key = await store.findApiKeyBySecretHash(digests);
      const at = now();
      if (!key || key.revokedAt || (key.expiresAt && key.expiresAt <= at)) throw invalidKey();
      // A key digested under a previous secret moves to the current one on its first use.
      const current = digests[0]!;
      if (key.secretHash !== current) await store.touchApiKey(key.id, at, current);
      else if (!key.lastUsedAt || at.getTime() - key.lastUsedAt.getTime() > TOUCH_INTERVAL_MS)
        await store.touchApiKey(key.id, at);
      return { kind: "partner", partnerId: key.partnerId, keyId: key.id, scopes: key.scopes };
    },

    /** Tokens for one of the calling partner's own synced users; another partner's user is "not found". */
    async exchange(
      principal: Principal,
      externalId: string,
      client: ClientInfo,
    ): Promise<{ userId: string; tokens: TokenPair }> {
      if (principal.kind !== "partner")
        throw permissionDenied("PERMISSION_DENIED", "only partner keys exchange tokens");
      const external = requireText(externalId, "external_id", 128);
      const notSynced = () =>
        notFound("SYNCED_USER_NOT_FOUND", "this partner has no synced user with that external_id");
      const userId = await deps.syncedUsers.lookup(principal.partnerId, external);
      if (!userId) throw notSynced();
      const account = await store.ensurePartnerAccount(userId, principal.partnerId, now());
      if (account.partnerId !== principal.partnerId) throw notSynced();
      const tokens = await deps.sessions.start(
        account,
        "aal1",
        { ...client, deviceName: `partner:${principal.partnerId}` },
        { partnerId: principal.partnerId, apiKeyId: principal.keyId },
      );
      return { userId, tokens };
    },
  };
}

export type ApiKeys = ReturnType<typeof createApiKeys>;
