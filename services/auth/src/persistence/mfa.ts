import { newId } from "@parley/kit/ids";
import { and, eq, inArray, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { MfaStore } from "../domain/ports";
import { accounts, backupCodes, mfaChallenges } from "./schema";
import { type Db, enqueue, unspent } from "./shared";

export function createMfaStore(db: Db): MfaStore {
  return {
    async insertMfaChallenge(challenge) {
      await db.insert(mfaChallenges).values(challenge);
    },

    async findMfaChallenge(tokenHashes, at) {
      const [row] = await db
        .select()
        .from(mfaChallenges)
        .where(and(inArray(mfaChallenges.tokenHash, [...tokenHashes]), unspent(mfaChallenges, at)));
      return row;
    },

    async useMfaChallenge(id, at) {
      const used = await db
        .update(mfaChallenges)
        .set({ usedAt: at })
        .where(and(eq(mfaChallenges.id, id), isNull(mfaChallenges.usedAt)))
        .returning({ id: mfaChallenges.id });
      return used.length > 0;
    },

    async listTotpSecretsSealedOtherwise(prefix, limit) {
      return db
        .select({ accountId: accounts.id, sealed: accounts.totpSecretSealed })
        .from(accounts)
        .where(
          and(
            isNotNull(accounts.totpSecretSealed),
            sql`not starts_with(${accounts.totpSecretSealed}, ${prefix})`,
          ),
        )
        .limit(limit) as Promise<{ accountId: string; sealed: string }[]>;
    },

    async resealTotpSecret(accountId, from, to) {
      const resealed = await db
        .update(accounts)
        .set({ totpSecretSealed: to })
        .where(and(eq(accounts.id, accountId), eq(accounts.totpSecretSealed, from)))
        .returning({ id: accounts.id });
      return resealed.length > 0;
    },

    async setTotpSecret(accountId, sealed) {
      await db
        .update(accounts)
        .set({ totpSecretSealed: sealed })
        .where(and(eq(accounts.id, accountId), eq(accounts.totpEnabled, false)));
    },

    async enableTotp(accountId, hashes, notices = []) {
      return db.transaction(async (tx) => {
        const enabled = await tx
          .update(accounts)
          .set({ totpEnabled: true })
          .where(and(eq(accounts.id, accountId), eq(accounts.totpEnabled, false)))
          .returning({ id: accounts.id });
        if (enabled.length === 0) return false;
        await enqueue(tx, notices);
        await tx.delete(backupCodes).where(eq(backupCodes.accountId, accountId));
        await tx.insert(backupCodes).values(hashes.map((codeHash) => ({ id: newId(), accountId, codeHash })));
        return true;
      });
    },

    async disableTotp(accountId, notices = []) {
      await db.transaction(async (tx) => {
        await enqueue(tx, notices);
        await tx
          .update(accounts)
          .set({ totpEnabled: false, totpSecretSealed: null })
          .where(eq(accounts.id, accountId));
        await tx.delete(backupCodes).where(eq(backupCodes.accountId, accountId));
      });
    },

    async acceptTotpStep(accountId, step) {
      const accepted = await db
        .update(accounts)
        .set({ totpLastStep: step })
        .where(and(eq(accounts.id, accountId), lt(accounts.totpLastStep, step)))
        .returning({ id: accounts.id });
      return accepted.length > 0;
    },

    async useBackupCode(accountId, codeHashes, at) {
      const used = await db
        .update(backupCodes)
        .set({ usedAt: at })
        .where(
          and(
            eq(backupCodes.accountId, accountId),
            inArray(backupCodes.codeHash, [...codeHashes]),
            isNull(backupCodes.usedAt),
          ),
        )
        .returning({ id: backupCodes.id });
      return used.length > 0;
    },

    async replaceBackupCodes(accountId, hashes) {
      await db.transaction(async (tx) => {
        await tx.delete(backupCodes).where(eq(backupCodes.accountId, accountId));
        await tx.insert(backupCodes).values(hashes.map((codeHash) => ({ id: newId(), accountId, codeHash })));
      });
    },
  };
}
