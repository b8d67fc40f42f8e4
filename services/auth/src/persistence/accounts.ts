import type { PersonRole } from "@parley/kit/auth";
import { and, desc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import type { AccountStore } from "../domain/ports";
import { isDemotion } from "../domain/roles";
import { appendAudit } from "./audit";
import { revokeLive } from "./login-sessions";
import { replacePassword, spendOutstandingResets } from "./password-resets";
import { insertRevocations } from "./revocations";
import { accounts, apiKeys, backupCodes, contactVerifications, loginSessions } from "./schema";
import { type Db, enqueue, toAccount, unspent } from "./shared";

/** `now`: the service's clock, read again for revocation times once the account row is locked. */
export function createAccountStore(db: Db, now: () => Date): AccountStore {
  // The hot reads (every sign-in looks its account up) are prepared once.
  const accountById = db
    .select()
    .from(accounts)
    .where(eq(accounts.id, sql.placeholder("id")))
    .prepare("auth_account_by_id");
  const accountByEmail = db
    .select()
    .from(accounts)
    .where(eq(accounts.email, sql.placeholder("email")))
    .prepare("auth_account_by_email");
  const accountByPhone = db
    .select()
    .from(accounts)
    .where(eq(accounts.phone, sql.placeholder("phone")))
    .prepare("auth_account_by_phone");

  return {
    async insertAccount(account, messages) {
      return db.transaction(async (tx) => {
        const inserted = await tx
          .insert(accounts)
          .values(account)
          .onConflictDoNothing()
          .returning({ id: accounts.id });
        if (inserted.length === 0) return false;
        await enqueue(tx, messages);
        return true;
      });
    },

    async findAccountByIdentifier({ email, phone }) {
      const [row] = email
        ? await accountByEmail.execute({ email })
        : phone
          ? await accountByPhone.execute({ phone })
          : [];
      return row ? toAccount(row) : undefined;
    },

    async findAccount(id) {
      const [row] = await accountById.execute({ id });
      return row ? toAccount(row) : undefined;
    },

    async ensurePartnerAccount(id, partnerId, at) {
      await db.insert(accounts).values({ id, partnerId, role: "user", createdAt: at }).onConflictDoNothing();
      const [row] = await accountById.execute({ id });
      return toAccount(row!);
    },

    async insertBootstrapAdmin(account) {
      return db.transaction(async (tx) => {
        const inserted = await tx
          .insert(accounts)
          .values(account)
          .onConflictDoNothing()
          .returning({ id: accounts.id });
        if (inserted.length === 0) {
          const [existing] = await tx
            .select({ role: accounts.role })
            .from(accounts)
            .where(eq(accounts.email, account.email!));
          return existing?.role === "admin" ? "exists_as_admin" : "exists_not_admin";
        }
        await enqueue(tx, [
          {
            kind: "profile.ensure",
            payload: { userId: account.id, displayName: "Admin", email: account.email!, phone: "" },
          },
        ]);
        return "created";
      });
    },

    async setRole(accountId, role, at, record) {
      return db.transaction(async (tx) => {
        // Admin changes are serialised so two admins demoting each other cannot leave none.
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext('parley:auth:admins'))`);
        const [row] = await tx.select().from(accounts).where(eq(accounts.id, accountId)).for("update");
        if (!row) return "not_found" as const;
        // Only active admins count: a suspended or deleted one keeps its role but can act on nothing.
        if (row.role === "admin" && role !== "admin" && row.status === "active") {
          const [{ admins }] = (await tx
            .select({ admins: sql<number>`count(*)::int` })
            .from(accounts)
            .where(and(eq(accounts.role, "admin"), eq(accounts.status, "active")))) as [{ admins: number }];
          if (admins <= 1) return "last_admin" as const;
        }
        await tx.update(accounts).set({ role }).where(eq(accounts.id, accountId));
        if (record) await appendAudit(tx, [record(row.role as PersonRole)]);
        // A demotion takes effect at once: every verifier refuses the tokens issued before it
        // (which still carry the old role); the next refresh carries the new one.
        // The time is read again under the row's lock, as for suspensions: a token minted by a
        // refresh that held the row before this change carries the old role and must be covered.
        if (isDemotion(row.role as PersonRole, role))
          await insertRevocations(tx, [
            {
              subject: `user:${accountId}`,
              reason: "role_changed",
              revokedAt: new Date(Math.max(at.getTime(), now().getTime())),
            },
          ]);
        return "ok" as const;
      });
    },

    async setPassword(accountId, passwordHash, at, notices = []) {
      await db.transaction((tx) => replacePassword(tx, accountId, passwordHash, at, notices));
    },

    async changeAccountStatus(change) {
      return db.transaction(async (tx) => {
        // Serialised with role changes, so suspensions and demotions cannot leave no admin.
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext('parley:auth:admins'))`);
        const [row] = await tx.select().from(accounts).where(eq(accounts.id, change.accountId)).for("update");
        if (!row) return { outcome: "not_found" as const };
        const before = toAccount(row);
        if (!change.from.includes(before.status)) return { outcome: "unchanged" as const, account: before };
        if (before.role === "admin" && change.to !== "active") {
          const [{ admins }] = (await tx
            .select({ admins: sql<number>`count(*)::int` })
            .from(accounts)
            .where(and(eq(accounts.role, "admin"), eq(accounts.status, "active")))) as [{ admins: number }];
          if (admins <= 1) return { outcome: "last_admin" as const };
        }
        const [updated] = await tx
          .update(accounts)
          .set({
            status: change.to,
            statusChangedAt: change.at,
            ...(change.erase
              ? {
                  email: null,
                  phone: null,
                  emailVerifiedAt: null,
                  phoneVerifiedAt: null,
                  passwordHash: null,
                  totpSecretSealed: null,
                  totpEnabled: false,
                }
              : {}),
          })
          .where(eq(accounts.id, change.accountId))
          .returning();
        if (change.erase) {
          await tx.delete(backupCodes).where(eq(backupCodes.accountId, change.accountId));
          await tx.delete(contactVerifications).where(eq(contactVerifications.accountId, change.accountId));
          await spendOutstandingResets(tx, change.accountId, change.at);
        }
        if (change.revoke) {
          // The revocation time is read after the row lock: a login or refresh that held the
          // row (for share) before signed its token earlier than this, so that token is refused.
          const at = new Date(Math.max(change.at.getTime(), now().getTime()));
          await revokeLive(tx, eq(loginSessions.accountId, change.accountId), change.revoke, at);
          const keys = await tx
            .update(apiKeys)
            .set({ revokedAt: at })
            .where(and(eq(apiKeys.createdBy, change.accountId), isNull(apiKeys.revokedAt)))
            .returning({ id: apiKeys.id });
          await insertRevocations(tx, [
            { subject: `user:${change.accountId}`, reason: change.revoke, revokedAt: at },
            ...keys.map((key) => ({
              subject: `api_key:${key.id}`,
              reason: change.revoke!,
              revokedAt: at,
            })),
          ]);
        }
        if (change.record) await appendAudit(tx, [change.record(before)]);
        await enqueue(tx, change.messages);
        return { outcome: "ok" as const, account: toAccount(updated!) };
      });
    },

    async insertVerification(verification, message) {
      await db.transaction(async (tx) => {
        await tx
          .update(contactVerifications)
          .set({ usedAt: verification.createdAt })
          .where(
            and(
              eq(contactVerifications.accountId, verification.accountId),
              eq(contactVerifications.channel, verification.channel),
              isNull(contactVerifications.usedAt),
            ),
          );
        await tx.insert(contactVerifications).values(verification);
        await enqueue(tx, [message]);
      });
    },

    async attemptVerification(accountId, channel, at, maxAttempts, decide) {
      return db.transaction(async (tx) => {
        const [row] = await tx
          .select()
          .from(contactVerifications)
          .where(
            and(
              eq(contactVerifications.accountId, accountId),
              eq(contactVerifications.channel, channel),
              unspent(contactVerifications, at),
            ),
          )
          .orderBy(desc(contactVerifications.createdAt))
          .limit(1)
          .for("update");
        if (!row) return { outcome: "none" as const };
        if (decide({ id: row.id, codeHash: row.codeHash })) {
          await tx
            .update(contactVerifications)
            .set({ usedAt: at })
            .where(eq(contactVerifications.id, row.id));
          const column = channel === "email" ? accounts.email : accounts.phone;
          await tx
            .update(accounts)
            .set(channel === "email" ? { emailVerifiedAt: at } : { phoneVerifiedAt: at })
            .where(and(eq(accounts.id, accountId), eq(column, row.address)));
          return { outcome: "verified" as const };
        }
        const attempts = row.attempts + 1;
        await tx
          .update(contactVerifications)
          .set({ attempts, ...(attempts >= maxAttempts ? { usedAt: at } : {}) })
          .where(eq(contactVerifications.id, row.id));
        return { outcome: "wrong" as const, attemptsLeft: Math.max(0, maxAttempts - attempts) };
      });
    },

    async searchAccounts(by, prefix, afterId, limit) {
      const column = by === "email" ? accounts.email : accounts.phone;
      const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
      const rows = await db
        .select()
        .from(accounts)
        .where(and(sql`${column} like ${`${escaped}%`}`, afterId ? gt(accounts.id, afterId) : undefined))
        .orderBy(accounts.id)
        .limit(limit);
      return rows.map(toAccount);
    },

    async findAccounts(ids) {
      if (ids.length === 0) return [];
      const rows = await db.select().from(accounts).where(inArray(accounts.id, ids));
      return rows.map(toAccount);
    },
  };
}
