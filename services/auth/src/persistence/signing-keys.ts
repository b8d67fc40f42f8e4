import { desc, isNull, sql } from "drizzle-orm";
import type { SigningKeyStore } from "../domain/ports";
import { signingKeys } from "./schema";
import type { Db } from "./shared";

export function createSigningKeyStore(db: Db): SigningKeyStore {
  return {
    async listSigningKeys() {
      return db.select().from(signingKeys);
    },

    async addSigningKey(key, knownNewest, retireOthersAt) {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext('parley:auth:signing-keys'))`);
        const [newest] = await tx.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).limit(1);
        if (newest?.kid !== knownNewest) return false;
        if (retireOthersAt)
          await tx
            .update(signingKeys)
            .set({ expiresAt: retireOthersAt })
            .where(isNull(signingKeys.expiresAt));
        await tx.insert(signingKeys).values(key);
        return true;
      });
    },
  };
}
