import type { Assurance, PersonRole } from "@parley/kit/auth";
import type { Sql } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { withTraceContext } from "@parley/kit/tracing";
import { and, desc, eq, gt, inArray, isNotNull, isNull, lt, ne, or, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { drizzle } from "drizzle-orm/postgres-js";
import type { Account, ApiKey, LoginSession, OutboxMessage } from "../domain/model";
import type { AuthStore, Page } from "../domain/ports";
import { isDemotion } from "../domain/roles";
import { appendAudit } from "./audit";
import { insertRevocations } from "./revocations";
import * as schema from "./schema";

const {
  accounts,
  apiKeys,
  backupCodes,
  contactVerifications,
  loginSessions,
  mfaChallenges,
  outbox,
  passwordResets,
  refreshTokens,
  revocations,
  signingKeys,
} = schema;

/** A one-time secret (code, challenge, reset) still good at `at`: not spent and not expired. */
const unspent = (table: { usedAt: AnyPgColumn; expiresAt: AnyPgColumn }, at: Date) =>
  and(isNull(table.usedAt), gt(table.expiresAt, at));

type Db = ReturnType<typeof drizzle<typeof schema>>;
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

const toAccount = (row: typeof accounts.$inferSelect): Account => ({
  id: row.id,
  status: row.status,
  emailVerifiedAt: row.emailVerifiedAt,
  phoneVerifiedAt: row.phoneVerifiedAt,
  email: row.email,
  phone: row.phone,
  passwordHash: row.passwordHash,
  role: row.role as PersonRole,
  partnerId: row.partnerId,
  totpSecretSealed: row.totpSecretSealed,
  totpEnabled: row.totpEnabled,
  createdAt: row.createdAt,
});

const toSession = (row: typeof loginSessions.$inferSelect): LoginSession => ({
  ...row,
  assurance: row.assurance as Assurance,
});

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

function page<T extends { id: string }>(rows: T[], limit: number, at: (row: T) => Date): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? { at: at(last), id: last.id } : undefined };
}

/** Keyset paging, newest first: rows strictly after the cursor in (created_at, id) order. */
function olderThan(createdAt: AnyPgColumn, id: AnyPgColumn, after: { at: Date; id: string } | undefined) {
  return after ? or(lt(createdAt, after.at), and(eq(createdAt, after.at), lt(id, after.id))) : undefined;
}

/** Outbox rows of messages: inside a trace, each payload carries its context (kit/tracing), which the relay continues. */
const outboxRows = (messages: OutboxMessage[]) =>
  messages.map((m) => ({ id: newId(), kind: m.kind, payload: withTraceContext(m.payload) }));

async function enqueue(tx: Db | Tx, messages: OutboxMessage[]) {
  if (messages.length === 0) return;
  await tx.insert(outbox).values(outboxRows(messages));
}

/** `now`: the service's clock, read again for revocation times once the account row is locked. */
export function createAuthStore(client: Sql, now: () => Date = () => new Date()): AuthStore {
  const db = drizzle(client, { schema });

  // The hot reads (every sign-in, refresh and API-key check) are prepared once.
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
  const apiKeyByHash = db
    .select()
    .from(apiKeys)
    .where(sql`${apiKeys.secretHash} = any(${sql.placeholder("hashes")})`)
    .prepare("auth_api_key_by_hash");

  const revokeLive = async (tx: Tx, condition: ReturnType<typeof and>, reason: string, at: Date) => {
    const revoked = await tx
      .update(loginSessions)
      .set({ revokedAt: at, revokeReason: reason })
      .where(and(condition, isNull(loginSessions.revokedAt)))
      .returning({ id: loginSessions.id });
    // Push devices registered by an ended login session stop receiving (user.ForgetLoginSession).
    await enqueue(
      tx,
      revoked.map((session) => ({
        kind: "devices.forget" as const,
        payload: { loginSessionId: session.id },
      })),
    );
    return revoked;
  };

  /** A new password makes every reset link still in someone's inbox worthless. */
  const spendOutstandingResets = (tx: Tx, accountId: string, at: Date) =>
    tx
      .update(passwordResets)
      .set({ usedAt: at })
      .where(and(eq(passwordResets.accountId, accountId), isNull(passwordResets.usedAt)));

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
        if (row.role === "admin" && role !== "admin") {
          const [{ admins }] = (await tx
            .select({ admins: sql<number>`count(*)::int` })
            .from(accounts)
            .where(eq(accounts.role, "admin"))) as [{ admins: number }];
          if (admins <= 1) return "last_admin" as const;
        }
        await tx.update(accounts).set({ role }).where(eq(accounts.id, accountId));
        if (record) await appendAudit(tx, [record(row.role as PersonRole)]);
        // A demotion takes effect at once: every verifier refuses the tokens issued before it
        // (which still carry the old role); the next refresh carries the new one.
        if (isDemotion(row.role as PersonRole, role))
          await insertRevocations(tx, [
            { subject: `user:${accountId}`, reason: "role_changed", revokedAt: at },
          ]);
        return "ok" as const;
      });
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

    async listRevocations(afterSeq, since, limit) {
      const rows = await db
        .select()
        .from(revocations)
        .where(and(gt(revocations.seq, afterSeq), gt(revocations.revokedAt, since)))
        .orderBy(revocations.seq)
        .limit(limit);
      return rows;
    },

    async setPassword(accountId, passwordHash, at, notices = []) {
      await db.transaction(async (tx) => {
        await enqueue(tx, notices);
        await tx
          .update(accounts)
          .set({ passwordHash, passwordChangedAt: at })
          .where(eq(accounts.id, accountId));
        await spendOutstandingResets(tx, accountId, at);
      });
    },

    async createSession(session, firstToken, notices = [], resetCounters = []) {
      // One statement, so a sign-in costs one round trip here (a login burst's CPU is mostly such
      // round trips): the account row share-locked — a suspension (which locks it for update)
      // either waits for this session and then revokes it, or has committed and is seen here —
      // and the session, its first token, its notices and the reset of its attempt counters
      // written only when it is active. Timestamps go as ISO text (drizzle turns postgres.js's
      // Date serialising off on this pool).
      const rows = outboxRows(notices);
      const [account] = await client<{ status: Account["status"] }[]>`
        with account as (
          select status from auth.accounts where id = ${session.accountId} for share
        ), opened as (
          insert into auth.login_sessions (id, account_id, device_name, ip_address, user_agent, assurance,
            partner_id, created_at, last_used_at, idle_expires_at, absolute_expires_at)
          select ${session.id}, ${session.accountId}, ${session.deviceName}, ${session.ipAddress},
            ${session.userAgent}, ${session.assurance}, ${session.partnerId},
            ${session.createdAt.toISOString()}::timestamptz, ${session.lastUsedAt.toISOString()}::timestamptz,
            ${session.idleExpiresAt.toISOString()}::timestamptz, ${session.absoluteExpiresAt.toISOString()}::timestamptz
          from account where status = 'active'
          returning id
        ), first_token as (
          insert into auth.refresh_tokens (id, session_id, token_hash, created_at)
          select ${firstToken.id}, id, ${firstToken.hash}, ${session.createdAt.toISOString()}::timestamptz from opened
        ), notices as (
          insert into auth.outbox (id, kind, payload)
          select n.id, n.kind, n.payload::jsonb
          from unnest(${rows.map((row) => row.id)}::uuid[], ${rows.map((row) => row.kind)}::text[],
            ${rows.map((row) => JSON.stringify(row.payload))}::text[]) as n(id, kind, payload)
          cross join opened
        ), reset_counters as (
          delete from auth.attempt_counters
          where key = any(${resetCounters}::text[]) and exists (select from opened)
        )
        select status from account`;
      return account?.status;
    },

    async forgetRetryPairs(spentBefore) {
      const forgotten = await db
        .update(refreshTokens)
        .set({ successorSealed: null })
        .where(and(isNotNull(refreshTokens.successorSealed), lt(refreshTokens.spentAt, spentBefore)))
        .returning({ id: refreshTokens.id });
      return forgotten.length;
    },

    async refreshFamily(tokenHashes, decide) {
      return db.transaction(async (tx) => {
        const [token] = await tx
          .select()
          .from(refreshTokens)
          .where(inArray(refreshTokens.tokenHash, [...tokenHashes]));
        if (!token) return decide(undefined);
        // The account row first, shared-locked (in the order a suspension takes its locks:
        // account, then sessions), so a suspension in progress is waited for and its status seen.
        const [owner] = await tx
          .select({ accountId: loginSessions.accountId })
          .from(loginSessions)
          .where(eq(loginSessions.id, token.sessionId));
        const [accountRow] = await tx
          .select()
          .from(accounts)
          .where(eq(accounts.id, owner!.accountId))
          .for("share");
        // The session row is the family's lock: every refresh of one family queues here.
        const [sessionRow] = await tx
          .select()
          .from(loginSessions)
          .where(eq(loginSessions.id, token.sessionId))
          .for("update");
        const [current] = await tx.select().from(refreshTokens).where(eq(refreshTokens.id, token.id));
        const successor = current?.successorId
          ? (await tx.select().from(refreshTokens).where(eq(refreshTokens.id, current.successorId)))[0]
          : undefined;
        const decision = await decide({
          tokenId: current!.id,
          spentAt: current!.spentAt,
          successorId: current!.successorId,
          successorActive: successor !== undefined && successor.spentAt === null,
          successorSealed: current!.successorSealed,
          session: toSession(sessionRow!),
          account: toAccount(accountRow!),
        });
        if (decision.kind === "rotate") {
          await tx.insert(refreshTokens).values({
            id: decision.next.id,
            sessionId: token.sessionId,
            tokenHash: decision.next.hash,
            createdAt: decision.at,
          });
          await tx
            .update(refreshTokens)
            .set({
              spentAt: decision.at,
              successorId: decision.next.id,
              successorSealed: decision.next.sealedPair,
            })
            .where(eq(refreshTokens.id, token.id));
          // Only the newest rotation may be retried: older sealed pairs are dropped.
          await tx
            .update(refreshTokens)
            .set({ successorSealed: null })
            .where(and(eq(refreshTokens.sessionId, token.sessionId), ne(refreshTokens.id, token.id)));
          await tx
            .update(loginSessions)
            .set({ lastUsedAt: decision.at, idleExpiresAt: decision.idleExpiresAt })
            .where(eq(loginSessions.id, token.sessionId));
        } else if (decision.kind === "revoke") {
          await revokeLive(tx, eq(loginSessions.id, token.sessionId), decision.reason, new Date());
        }
        return decision;
      });
    },

    async findSession(id) {
      const [row] = await db.select().from(loginSessions).where(eq(loginSessions.id, id));
      return row ? toSession(row) : undefined;
    },

    async listLiveSessions(accountId, at, limit, after) {
      const rows = await db
        .select()
        .from(loginSessions)
        .where(
          and(
            eq(loginSessions.accountId, accountId),
            isNull(loginSessions.revokedAt),
            gt(loginSessions.idleExpiresAt, at),
            gt(loginSessions.absoluteExpiresAt, at),
            olderThan(loginSessions.createdAt, loginSessions.id, after),
          ),
        )
        .orderBy(desc(loginSessions.createdAt), desc(loginSessions.id))
        .limit(limit + 1);
      return page(rows.map(toSession), limit, (s) => s.createdAt);
    },

    async revokeSession(id, accountId, reason, at) {
      const revoked = await db.transaction((tx) =>
        revokeLive(
          tx,
          and(eq(loginSessions.id, id), accountId ? eq(loginSessions.accountId, accountId) : undefined),
          reason,
          at,
        ),
      );
      return revoked.length > 0;
    },

    async revokeSessions(accountId, keep, reason, at) {
      const revoked = await db.transaction((tx) =>
        revokeLive(
          tx,
          and(eq(loginSessions.accountId, accountId), keep ? ne(loginSessions.id, keep) : undefined),
          reason,
          at,
        ),
      );
      return revoked.length;
    },

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

    async enqueueOutbox(messages) {
      await enqueue(db, messages);
    },

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
        await enqueue(tx, notices);
        await tx
          .update(accounts)
          .set({ passwordHash, passwordChangedAt: at })
          .where(eq(accounts.id, accountId));
        await spendOutstandingResets(tx, accountId, at);
        await revokeLive(tx, eq(loginSessions.accountId, accountId), "password_reset", at);
        return true;
      });
    },

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
          .returning({ id: apiKeys.id });
        // Verifiers refuse it at their next poll rather than when their 30 s cache expires.
        if (revoked.length > 0)
          await insertRevocations(tx, [
            { subject: `api_key:${id}`, reason: "api_key_revoked", revokedAt: at },
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
