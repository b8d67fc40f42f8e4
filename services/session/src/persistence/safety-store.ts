import type { Sql } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { enqueueOutbox } from "@parley/kit/outbox";
import type {
  DisputeEvidence,
  DisputeRecord,
  PublicReviewRecord,
  ReportRecord,
  SafetySync,
} from "../domain/safety-model";
import type { SafetyStore, SafetyTx } from "../domain/safety-ports";
import { parseTagged } from "./codec";
import { NOTIFICATION_OUTBOX, toMessage } from "./store";

type Row = Record<string, unknown>;

/** Changes the user service mirrors (workers/safety-sync.ts). */
export const SAFETY_OUTBOX = "sessions.safety_outbox";

/** A jsonb document with bigints and dates tagged, as the event codec writes them. */
const tagged = (value: unknown) =>
  JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    if (typeof raw === "bigint") return { $bigint: raw.toString() };
    if (raw instanceof Date) return { $date: raw.toISOString() };
    return v;
  });

const toReport = (row: Row): ReportRecord => ({
  id: row.id as string,
  reporterId: (row.reporter_id as string | null) ?? null,
  requestId: (row.request_id as string | null) ?? null,
  targetKind: row.target_kind as ReportRecord["targetKind"],
  targetId: row.target_id as string,
  subjectUserId: row.subject_user_id as string,
  sessionId: (row.session_id as string | null) ?? null,
  reason: row.reason as ReportRecord["reason"],
  note: row.note as string,
  source: row.source as ReportRecord["source"],
  status: row.status as ReportRecord["status"],
  resolution: (row.resolution as ReportRecord["resolution"]) ?? null,
  resolutionNote: (row.resolution_note as string | null) ?? null,
  resolvedBy: (row.resolved_by as string | null) ?? null,
  createdAt: row.created_at as Date,
  resolvedAt: (row.resolved_at as Date | null) ?? null,
});

const toDispute = (row: Row): DisputeRecord => ({
  id: row.id as string,
  sessionId: row.session_id as string,
  userId: row.user_id as string,
  expertId: row.expert_id as string,
  reason: row.reason as DisputeRecord["reason"],
  note: row.note as string,
  status: row.status as DisputeRecord["status"],
  evidence: parseTagged<DisputeEvidence>(JSON.stringify(row.evidence)),
  proposedOutcome: row.proposed_outcome as DisputeRecord["proposedOutcome"],
  proposedRule: row.proposed_rule as string,
  proposedRefundMinor: BigInt(row.proposed_refund_minor as bigint),
  currency: row.currency as string,
  refundedMinor: row.refunded_minor == null ? null : BigInt(row.refunded_minor as bigint),
  refundId: (row.refund_id as string | null) ?? null,
  resolutionNote: (row.resolution_note as string | null) ?? null,
  resolvedBy: (row.resolved_by as string | null) ?? null,
  createdAt: row.created_at as Date,
  resolvedAt: (row.resolved_at as Date | null) ?? null,
});

const toReview = (row: Row): PublicReviewRecord => ({
  sessionId: row.session_id as string,
  expertId: row.expert_id as string,
  userId: row.user_id as string,
  rating: Number(row.rating),
  text: row.text as string,
  createdAt: row.created_at as Date,
  reply: (row.reply as string | null) ?? null,
  repliedAt: (row.replied_at as Date | null) ?? null,
  hiddenAt: (row.hidden_at as Date | null) ?? null,
});

/** Inserts a report (also from the session store: the contact filter flags inside a message's transaction). */
export async function insertReport(sql: Sql, r: ReportRecord): Promise<boolean> {
  const rows = await sql`insert into sessions.reports (id, reporter_id, request_id, target_kind, target_id,
      subject_user_id, session_id, reason, note, source, status, created_at)
    values (${r.id}, ${r.reporterId}, ${r.requestId}, ${r.targetKind}, ${r.targetId}, ${r.subjectUserId},
      ${r.sessionId}, ${r.reason}, ${r.note}, ${r.source}, ${r.status}, ${r.createdAt})
    on conflict do nothing returning id`;
  return rows.length === 1;
}

/** The outbox row key of a change: one pair's blocks, one expert's ratings, each in order. */
const syncKey = (item: SafetySync) =>
  item.kind === "block"
    ? `block:${[item.blockerId, item.blockedId].sort().join(":")}`
    : `rating:${item.expertId}`;

/**
 * Queues changes for user (the safety outbox). Each change gets its own row (a block lifted and
 * made again is two changes); the payload's key keeps one pair's changes in order at the relay.
 */
export async function enqueueSafetySync(sql: Sql, items: SafetySync[]) {
  const id = newId();
  await enqueueOutbox(
    sql,
    SAFETY_OUTBOX,
    items.map((item, index) => ({ id: `${id}:${index}`, payload: { ...item, key: syncKey(item) } })),
  );
}

function transactional(sql: Sql): SafetyTx {
  return {
    async insertBlock(b) {
      const rows = await sql`insert into sessions.blocks (blocker_id, blocked_id, created_at)
        values (${b.blockerId}, ${b.blockedId}, ${b.createdAt}) on conflict do nothing returning blocker_id`;
      return rows.length === 1;
    },
    async deleteBlock(blockerId, blockedId) {
      const rows =
        await sql`delete from sessions.blocks where blocker_id = ${blockerId} and blocked_id = ${blockedId}
        returning blocker_id`;
      return rows.length === 1;
    },
    enqueueSync: (items) => enqueueSafetySync(sql, items),
    enqueueNotifications: (intents) =>
      enqueueOutbox(
        sql,
        NOTIFICATION_OUTBOX,
        intents.map(({ id, ...payload }) => ({ id, payload })),
      ),
    insertReport: (report) => insertReport(sql, report),
    async lockReport(id) {
      const [row] = await sql`select * from sessions.reports where id = ${id} for update`;
      return row ? toReport(row) : undefined;
    },
    async suspending(id, since) {
      const [row] =
        await sql`select suspending_since >= ${since} as suspending from sessions.reports where id = ${id}`;
      return Boolean(row?.suspending);
    },
    async updateReport(r) {
      await sql`update sessions.reports set status = ${r.status}, resolution = ${r.resolution},
        resolution_note = ${r.resolutionNote}, resolved_by = ${r.resolvedBy}, resolved_at = ${r.resolvedAt}
        where id = ${r.id}`;
    },
    async hideMessage(messageId, at) {
      await sql`update sessions.messages set hidden_at = ${at} where id = ${messageId} and hidden_at is null`;
    },
    async hideReview(sessionId, at) {
      const [row] = await sql`update sessions.reviews set hidden_at = ${at}
        where session_id = ${sessionId} and hidden_at is null returning *`;
      return row ? toReview(row) : undefined;
    },
    async insertDispute(d) {
      const rows =
        await sql`insert into sessions.disputes (id, session_id, user_id, expert_id, reason, note, status,
          evidence, proposed_outcome, proposed_rule, proposed_refund_minor, currency, created_at)
        values (${d.id}, ${d.sessionId}, ${d.userId}, ${d.expertId}, ${d.reason}, ${d.note}, ${d.status},
          ${tagged(d.evidence)}::text::jsonb, ${d.proposedOutcome}, ${d.proposedRule}, ${d.proposedRefundMinor.toString()},
          ${d.currency}, ${d.createdAt})
        on conflict do nothing returning id`;
      return rows.length === 1;
    },
    async lockDispute(id) {
      const [row] = await sql`select * from sessions.disputes where id = ${id} for update`;
      return row ? toDispute(row) : undefined;
    },
    async updateDispute(d) {
      await sql`update sessions.disputes set status = ${d.status},
        refunded_minor = ${d.refundedMinor === null ? null : d.refundedMinor.toString()}, refund_id = ${d.refundId},
        resolution_note = ${d.resolutionNote}, resolved_by = ${d.resolvedBy}, resolved_at = ${d.resolvedAt}
        where id = ${d.id}`;
    },
    async setReply(sessionId, reply, at) {
      const rows = await sql`update sessions.reviews set reply = ${reply}, replied_at = ${at}
        where session_id = ${sessionId} and reply is null and hidden_at is null returning session_id`;
      return rows.length === 1;
    },
    async insertUserRating(r) {
      const rows =
        await sql`insert into sessions.user_ratings (session_id, user_id, expert_id, rating, text, created_at)
        values (${r.sessionId}, ${r.userId}, ${r.expertId}, ${r.rating}, ${r.text}, ${r.createdAt})
        on conflict do nothing returning session_id`;
      return rows.length === 1;
    },
  };
}

export function createSafetyStore(sql: Sql): SafetyStore {
  return {
    transaction: (work) => sql.begin((tx) => work(transactional(tx as unknown as Sql))) as Promise<never>,
    async listBlocks(blockerId, after, limit) {
      const rows = await sql`select * from sessions.blocks where blocker_id = ${blockerId}
        ${after ? sql`and (created_at, blocked_id) < (${after.at}, ${after.id})` : sql``}
        order by created_at desc, blocked_id desc limit ${limit}`;
      return rows.map((row) => ({
        blockerId: row.blocker_id as string,
        blockedId: row.blocked_id as string,
        createdAt: row.created_at as Date,
      }));
    },
    async getMessage(messageId) {
      const [row] = await sql`select * from sessions.messages where id = ${messageId}`;
      return row ? toMessage(row) : undefined;
    },
    async findReport(reporterId, requestId) {
      const [row] =
        await sql`select * from sessions.reports where reporter_id = ${reporterId} and request_id = ${requestId}`;
      return row ? toReport(row) : undefined;
    },
    async getReport(id) {
      const [row] = await sql`select * from sessions.reports where id = ${id}`;
      return row ? toReport(row) : undefined;
    },
    async listReports(filter, limit) {
      const rows = await sql`select * from sessions.reports where status = ${filter.status}
        ${filter.source ? sql`and source = ${filter.source}` : sql``}
        ${filter.afterId ? sql`and id > ${filter.afterId}` : sql``}
        order by id limit ${limit}`;
      return rows.map(toReport);
    },
    async presenceOf(sessionId) {
      const rows =
        // A side that came and went in the same instant (gone with the heartbeat it connected
        // with) reads came, then went.
        await sql`select user_id, online, at from sessions.presence_log where session_id = ${sessionId}
        order by at, online desc`;
      return rows.map((row) => ({
        userId: row.user_id as string,
        online: row.online as boolean,
        at: row.at as Date,
      }));
    },
    async messageTrace(sessionId, limit) {
      const rows = await sql`select sender_id, sent_at from sessions.messages where session_id = ${sessionId}
        and kind <> 'system' order by seq limit ${limit}`;
      return rows.map((row) => ({ senderId: row.sender_id as string, sentAt: row.sent_at as Date }));
    },
    async getDispute(id) {
      const [row] = await sql`select * from sessions.disputes where id = ${id}`;
      return row ? toDispute(row) : undefined;
    },
    async claimSuspension(id, by, at, lapsedBefore) {
      const rows = await sql`update sessions.reports set suspending_since = ${at}, suspending_by = ${by}
        where id = ${id} and status = 'open'
          and (suspending_since is null or suspending_since < ${lapsedBefore} or suspending_by = ${by})
        returning id`;
      return rows.length === 1;
    },
    async releaseSuspension(id, by, at) {
      await sql`update sessions.reports set suspending_since = null, suspending_by = null
        where id = ${id} and status = 'open' and suspending_by = ${by} and suspending_since = ${at}`;
    },
    async claimDecision(id, decision, amountMinor) {
      const amount = amountMinor === undefined ? null : amountMinor.toString();
      const claimed = await sql`
        update sessions.disputes set decision = ${decision}, decision_amount_minor = ${amount}::bigint
        where id = ${id} and status = 'open' and (decision is null
          or (decision = ${decision} and decision_amount_minor is not distinct from ${amount}::bigint))
        returning id`;
      if (claimed.length === 1) return { claimed: true };
      // Read apart, after the update: a claim committed while it waited is the one seen.
      const [row] = await sql`select decision, decision_amount_minor from sessions.disputes where id = ${id}`;
      return row?.decision
        ? {
            claimed: false,
            held: {
              decision: row.decision as string,
              amountMinor:
                row.decision_amount_minor == null ? null : BigInt(row.decision_amount_minor as bigint),
            },
          }
        : { claimed: false };
    },
    async releaseDecision(id, decision) {
      await sql`update sessions.disputes set decision = null, decision_amount_minor = null
        where id = ${id} and status = 'open' and decision = ${decision}`;
    },
    async disputeOfSession(sessionId) {
      const [row] = await sql`select * from sessions.disputes where session_id = ${sessionId}`;
      return row ? toDispute(row) : undefined;
    },
    async listDisputes(filter, limit) {
      const rows = await sql`select * from sessions.disputes where status = ${filter.status}
        ${filter.afterId ? sql`and id > ${filter.afterId}` : sql``}
        order by id limit ${limit}`;
      return rows.map(toDispute);
    },
    async getPublicReview(sessionId) {
      const [row] = await sql`select * from sessions.reviews where session_id = ${sessionId}`;
      return row ? toReview(row) : undefined;
    },
    async listExpertReviews(expertId, filter, limit) {
      const rows =
        await sql`select * from sessions.reviews where expert_id = ${expertId} and hidden_at is null
        ${filter.rating ? sql`and rating = ${filter.rating}` : sql``}
        ${filter.before ? sql`and (created_at, session_id) < (${filter.before.at}, ${filter.before.id})` : sql``}
        order by created_at desc, session_id desc limit ${limit}`;
      return rows.map(toReview);
    },
    async takeDirtyExperts(limit) {
      const rows = await sql`delete from sessions.expert_metrics_dirty where expert_id in (
          select expert_id from sessions.expert_metrics_dirty limit ${limit} for update skip locked)
        returning expert_id`;
      return rows.map((row) => row.expert_id as string);
    },
    async markDirty(expertIds) {
      if (expertIds.length === 0) return;
      await sql`insert into sessions.expert_metrics_dirty (expert_id)
        select * from unnest(${expertIds}::uuid[]) on conflict do nothing`;
    },
    async expertFigures(expertId, month) {
      const [row] = await sql`select
          coalesce(m.requests, 0) as requests, coalesce(m.completed, 0) as completed,
          coalesce(m.rating_sum, 0) as rating_sum, coalesce(m.rating_count, 0) as rating_count,
          coalesce(s.clients, 0) as clients, coalesce(s.repeat_clients, 0) as repeat_clients, s.last_active_at,
          (select percentile_disc(0.5) within group (order by f.seconds) from sessions.first_responses f
            where f.expert_id = ${expertId} and f.month = ${month}::date) as median
        from (select 1) one
        left join sessions.expert_monthly m on m.expert_id = ${expertId} and m.month = ${month}::date
        left join sessions.expert_stats s on s.expert_id = ${expertId}`;
      return {
        requests: Number(row!.requests),
        completed: Number(row!.completed),
        ratingSum: Number(row!.rating_sum),
        ratingCount: Number(row!.rating_count),
        clients: Number(row!.clients),
        repeatClients: Number(row!.repeat_clients),
        lastActiveAt: (row!.last_active_at as Date | null) ?? null,
        medianFirstResponseSeconds: row!.median == null ? null : Number(row!.median),
      };
    },
    async userRatingSummary(userId) {
      const [row] = await sql`select coalesce(avg(rating), 0)::float8 as average, count(*)::int as count
        from sessions.user_ratings where user_id = ${userId}`;
      return { average: Number(row!.average), count: Number(row!.count) };
    },
  };
}
