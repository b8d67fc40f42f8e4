import type { Assurance } from "@parley/kit/auth";
import type { Sql } from "@parley/kit/db";
import { outboxChannel } from "@parley/kit/outbox";
import { and, desc, eq, gt, inArray, isNotNull, isNull, like, lt, ne } from "drizzle-orm";
import type { Account, LoginSession } from "../domain/model";
import type { LoginSessionStore } from "../domain/ports";
import { insertRevocations } from "./revocations";
import { accounts, loginSessions, refreshTokens, revocations } from "./schema";
import { type Db, enqueue, OUTBOX, olderThan, outboxRows, page, type Tx, toAccount } from "./shared";

const toSession = (row: typeof loginSessions.$inferSelect): LoginSession => ({
  ...row,
  assurance: row.assurance as Assurance,
});

/**
 * Revokes the live sessions matching `condition`, in the caller's transaction; returns their ids
 * and accounts.
 * Not published: for a caller that revokes the person (`user:`), which covers every session.
 */
export async function revokeLive(tx: Tx, condition: ReturnType<typeof and>, reason: string, at: Date) {
  const revoked = await tx
    .update(loginSessions)
    .set({ revokedAt: at, revokeReason: reason })
    .where(and(condition, isNull(loginSessions.revokedAt)))
    .returning({ id: loginSessions.id, accountId: loginSessions.accountId });
  // Push devices registered by an ended login session stop receiving (user.ForgetLoginSession).
  await enqueue(
    tx,
    revoked.map((session) => ({
      kind: "devices.forget" as const,
      payload: { loginSessionId: session.id },
    })),
  );
  return revoked;
}

/**
 * Revokes the live sessions matching `condition` and publishes each as a `session:<id>`
 * revocation, so verifiers refuse its access tokens at once (they would otherwise live out their
 * 15 minutes after a logout). The caller's transaction ends with it (insertRevocations' lock).
 */
export async function revokeAndPublish(tx: Tx, condition: ReturnType<typeof and>, reason: string, at: Date) {
  const revoked = await revokeLive(tx, condition, reason, at);
  await insertRevocations(
    tx,
    revoked.map((session) => ({ subject: `session:${session.id}`, reason, revokedAt: at })),
  );
  return revoked;
}

/** `client`: the pool under `db`, for the sign-in's single statement. */
export function createLoginSessionStore(db: Db, client: Sql): LoginSessionStore {
  return {
    async createSession(session, firstToken, seen, signIn) {
      // One statement, so a sign-in costs one round trip here (a login burst's CPU is mostly such
      // round trips): the account row share-locked (and a partner's key row) — a suspension, a
      // new password or the key's revocation (which lock the row for update) either waits for
      // this session and then revokes it, or has committed and is seen here — and the session,
      // its first token, a sign-in's notice (unless the device is known; with the relays'
      // NOTIFY) and the reset of its attempt counters written only when it is active.
      // Timestamps go as ISO text (drizzle turns postgres.js's Date serialising off on this pool).
      const [notice] = outboxRows(signIn ? [signIn.notice] : []);
      const known = signIn?.knownDevice ?? { since: session.createdAt, endedFor: [] };
      const [account] = await client<
        {
          status: Account["status"];
          role: Account["role"];
          same_password: boolean;
          key_live: boolean;
        }[]
      >`
        with live_key as (
          select id from auth.api_keys where id = ${session.apiKeyId}::uuid and revoked_at is null for share
        ), account as (
          select status, role, password_hash is not distinct from ${seen.passwordHash} as same_password,
            ${session.apiKeyId}::uuid is null or exists (select from live_key) as key_live
          from auth.accounts where id = ${session.accountId} for share
        ), opened as (
          insert into auth.login_sessions (id, account_id, device_name, ip_address, user_agent, assurance,
            partner_id, api_key_id, created_at, last_used_at, idle_expires_at, absolute_expires_at)
          select ${session.id}, ${session.accountId}, ${session.deviceName}, ${session.ipAddress},
            ${session.userAgent}, ${session.assurance}, ${session.partnerId}, ${session.apiKeyId}::uuid,
            ${session.createdAt.toISOString()}::timestamptz, ${session.lastUsedAt.toISOString()}::timestamptz,
            ${session.idleExpiresAt.toISOString()}::timestamptz, ${session.absoluteExpiresAt.toISOString()}::timestamptz
          from account where status = 'active' and role = ${seen.role} and same_password and key_live
          returning id
        ), noticed as (
          insert into auth.outbox (id, payload)
          select ${notice?.id ?? null}, ${notice ? JSON.stringify(notice.payload) : null}::jsonb
          from opened
          where ${notice !== undefined} and not exists (
            select from auth.login_sessions known
            where known.account_id = ${session.accountId} and known.partner_id is null
              and known.created_at >= ${known.since.toISOString()}::timestamptz
              and known.ip_address = ${session.ipAddress} and known.user_agent = ${session.userAgent}
              and (known.revoke_reason is null or known.revoke_reason = any(${known.endedFor}::text[])))
          returning id
        ), first_token as (
          insert into auth.refresh_tokens (id, session_id, token_hash, created_at)
          select ${firstToken.id}, id, ${firstToken.hash}, ${session.createdAt.toISOString()}::timestamptz from opened
        ), reset_counters as (
          delete from auth.attempt_counters
          where key = any(${signIn?.resetCounters ?? []}::text[]) and exists (select from opened)
        )
        -- Wakes the relays (on commit) when the notice was written.
        select status, role, same_password, key_live,
          (select pg_notify(${outboxChannel(OUTBOX)}, '') from noticed) as woken
        from account`;
      return (
        account && {
          status: account.status,
          role: account.role,
          samePassword: account.same_password,
          keyLive: account.key_live,
        }
      );
    },

    async deleteSessionRevocations(before) {
      const deleted = await db
        .delete(revocations)
        .where(and(like(revocations.subject, "session:%"), lt(revocations.revokedAt, before)))
        .returning({ seq: revocations.seq });
      return deleted.length;
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
          await revokeAndPublish(tx, eq(loginSessions.id, token.sessionId), decision.reason, decision.at);
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
        revokeAndPublish(
          tx,
          and(eq(loginSessions.id, id), accountId ? eq(loginSessions.accountId, accountId) : undefined),
          reason,
          at,
        ),
      );
      return revoked[0]?.accountId;
    },

    async revokeSessions(accountId, keep, reason, at) {
      const revoked = await db.transaction((tx) =>
        revokeAndPublish(
          tx,
          and(eq(loginSessions.accountId, accountId), keep ? ne(loginSessions.id, keep) : undefined),
          reason,
          at,
        ),
      );
      return revoked.length;
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
  };
}
