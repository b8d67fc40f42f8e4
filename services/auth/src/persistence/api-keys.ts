import { and, desc, eq, isNull, or, sql } from "drizzle-orm";
import type { ApiKey } from "../domain/model";
import type { ApiKeyStore } from "../domain/ports";
import { revokeLive } from "./login-sessions";
import { insertRevocations } from "./revocations";
import { apiKeys, loginSessions } from "./schema";
import { type Db, olderThan, page } from "./shared";

const toApiKey = (row: typeof apiKeys.$inferSelect): ApiKey => ({
  id: row.id,
  partnerId: row.partnerId,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: row.createdAt,
  expiresAt: row.expiresAt,
  revokedAt: row.revokedAt,
  lastUsedAt: row.lastUsedAt,
});

export function createApiKeyStore(db: Db): ApiKeyStore {
  // The hot read (every API-key check) is prepared once.
  const apiKeyByHash = db
    .select()
    .from(apiKeys)
    .where(sql`${apiKeys.secretHash} = any(${sql.placeholder("hashes")})`)
    .prepare("auth_api_key_by_hash");

  return {
    async insertApiKey(key) {
      const inserted = await db
        .insert(apiKeys)
        .values(key)
        .onConflictDoNothing({ target: apiKeys.requestId })
        .returning();
      if (inserted[0]) return { created: true, key: toApiKey(inserted[0]), requestDigest: key.requestDigest };
      const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.requestId, key.requestId));
      return { created: false, key: toApiKey(existing!), requestDigest: existing!.requestDigest };
    },

    async listApiKeys(partnerId, limit, after) {
      const rows = await db
        .select()
        .from(apiKeys)
        .where(
          and(
            partnerId ? eq(apiKeys.partnerId, partnerId) : undefined,
            olderThan(apiKeys.createdAt, apiKeys.id, after),
          ),
        )
        .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
        .limit(limit + 1);
      return page(rows.map(toApiKey), limit, (k) => k.createdAt);
    },

    async revokeApiKey(id, at) {
      await db.transaction(async (tx) => {
        const revoked = await tx
          .update(apiKeys)
          .set({ revokedAt: at })
          .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
          .returning({ id: apiKeys.id, partnerId: apiKeys.partnerId });
        if (revoked.length === 0) return;
        // The sessions it obtained for the partner's users (ExchangeToken) end with it; so do the
        // partner's made before sessions recorded their key (migration 0009), which may be its.
        const sessions = await revokeLive(
          tx,
          or(
            eq(loginSessions.apiKeyId, id),
            and(eq(loginSessions.partnerId, revoked[0]!.partnerId), isNull(loginSessions.apiKeyId)),
          ),
          "api_key_revoked",
          at,
        );
        // Verifiers refuse them at their next poll rather than when their 30 s cache expires.
        await insertRevocations(tx, [
          { subject: `api_key:${id}`, reason: "api_key_revoked", revokedAt: at },
          ...sessions.map((s) => ({ subject: `session:${s.id}`, reason: "api_key_revoked", revokedAt: at })),
        ]);
      });
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
      return row ? toApiKey(row) : undefined;
    },

    async findApiKeyBySecretHash(hashes) {
      const [row] = await apiKeyByHash.execute({ hashes });
      return row ? { ...toApiKey(row), secretHash: row.secretHash } : undefined;
    },

    async touchApiKey(id, at, rehashed) {
      await db
        .update(apiKeys)
        .set(rehashed ? { lastUsedAt: at, secretHash: rehashed } : { lastUsedAt: at })
        .where(eq(apiKeys.id, id));
    },
  };
}
