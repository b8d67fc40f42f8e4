import { and, eq, inArray, isNull } from "drizzle-orm";
import type { OutboxMessage } from "../domain/model";
import type { PasswordResetStore } from "../domain/ports";
import { revokeAndPublish } from "./login-sessions";
import { accounts, loginSessions, mfaChallenges, passwordResets } from "./schema";
import { type Db, enqueue, type Tx, unspent } from "./shared";

/** A new password makes every reset link still in someone's inbox worthless. */
export const spendOutstandingResets = (tx: Tx, accountId: string, at: Date) =>
  tx
    .update(passwordResets)
    .set({ usedAt: at })
    .where(and(eq(passwordResets.accountId, accountId), isNull(passwordResets.usedAt)));

/**
 * A new password in place, in the caller's transaction: its notices queued, the hash stored, and
 * every reset link and MFA challenge (a login's second step, won with the old password) still
 * outstanding spent.
 */
export async function replacePassword(
  tx: Tx,
  accountId: string,
  passwordHash: string,
  at: Date,
  notices: OutboxMessage[],
) {
  await enqueue(tx, notices);
  await tx.update(accounts).set({ passwordHash, passwordChangedAt: at }).where(eq(accounts.id, accountId));
  await spendOutstandingResets(tx, accountId, at);
  await tx
    .update(mfaChallenges)
    .set({ usedAt: at })
    .where(and(eq(mfaChallenges.accountId, accountId), isNull(mfaChallenges.usedAt)));
}

export function createPasswordResetStore(db: Db): PasswordResetStore {
  return {
    async insertPasswordReset(reset, message) {
      await db.transaction(async (tx) => {
        await tx.insert(passwordResets).values(reset);
        await enqueue(tx, [message]);
      });
    },

    async findPasswordReset(tokenHashes, at) {
      const [row] = await db
        .select({ id: passwordResets.id, accountId: passwordResets.accountId })
        .from(passwordResets)
        .where(and(inArray(passwordResets.tokenHash, [...tokenHashes]), unspent(passwordResets, at)));
      return row;
    },

    async completePasswordReset(resetId, accountId, passwordHash, at, notices = []) {
      return db.transaction(async (tx) => {
        const used = await tx
          .update(passwordResets)
          .set({ usedAt: at })
          .where(and(eq(passwordResets.id, resetId), unspent(passwordResets, at)))
          .returning({ id: passwordResets.id });
        if (used.length === 0) return false;
        await replacePassword(tx, accountId, passwordHash, at, notices);
        await revokeAndPublish(tx, eq(loginSessions.accountId, accountId), "password_reset", at);
        return true;
      });
    },
  };
}
