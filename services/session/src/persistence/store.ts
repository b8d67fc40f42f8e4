import type { Sql } from "@parley/kit/db";
import { enqueueOutbox } from "@parley/kit/outbox";
import type { ParameterOrFragment } from "postgres";
import {
  DuplicateRecord,
  type EventBody,
  type Leased,
  type MessageRecord,
  type MeteredSession,
  type MeteringClaim,
  type ReviewRecord,
  type SessionEvent,
  type SessionRecord,
  type SessionStatus,
  type UniqueRule,
} from "../domain/model";
import type { NewEvent, SessionPatch, SessionStore, SessionTx } from "../domain/ports";
import { decodeEventBody, eventBodyJson } from "./codec";
import { enqueueSafetySync, insertReport } from "./safety-store";

type Row = Record<string, unknown>;

const toSession = (row: Row): SessionRecord => ({
  id: row.id as string,
  userId: row.user_id as string,
  expertId: row.expert_id as string,
  kind: row.kind as SessionRecord["kind"],
  status: row.status as SessionStatus,
  requestId: row.request_id as string,
  rateMinor: BigInt(row.rate_minor as bigint),
  currency: row.currency as string,
  holdId: (row.hold_id as string | null) ?? null,
  invoiceId: (row.invoice_id as string | null) ?? null,
  minutesCharged: Number(row.minutes_charged),
  minutesLeft: BigInt(row.minutes_left as bigint),
  endReason: (row.end_reason as SessionRecord["endReason"]) ?? null,
  requestedAt: row.requested_at as Date,
  acceptedAt: (row.accepted_at as Date | null) ?? null,
  startedAt: (row.started_at as Date | null) ?? null,
  endedAt: (row.ended_at as Date | null) ?? null,
  expiresAt: row.expires_at as Date,
  nextChargeAt: (row.next_charge_at as Date | null) ?? null,
  pausedAt: (row.paused_at as Date | null) ?? null,
  userOnline: row.user_online as boolean,
  expertOnline: row.expert_online as boolean,
  awaySince: (row.away_since as Date | null) ?? null,
  settlementPending: row.settlement_pending as boolean,
  queuedAt: (row.queued_at as Date | null) ?? null,
  lastSeq: BigInt(row.last_seq as bigint),
});

export const toMessage = (row: Row): MessageRecord => ({
  id: row.id as string,
  sessionId: row.session_id as string,
  seq: BigInt(row.seq as bigint),
  senderId: row.sender_id as string,
  kind: row.kind as MessageRecord["kind"],
  text: row.text as string,
  attachmentUrl: row.attachment_url as string,
  attachmentContentType: row.attachment_content_type as string,
  clientMsgId: row.client_msg_id as string,
  sentAt: row.sent_at as Date,
  hidden: row.hidden_at != null,
  flagged: row.flagged === true,
});

/** Stored events read at a time for a watcher's replay (a long chat is sent page by page). */
export const EVENT_PAGE = 500;

const toEvent = (row: Row): SessionEvent => ({
  seq: BigInt(row.seq as bigint),
  sessionId: row.session_id as string,
  occurredAt: row.occurred_at as Date,
  body: decodeEventBody(row.body),
});

const COLUMN: Record<keyof SessionPatch, string> = {
  status: "status",
  holdId: "hold_id",
  invoiceId: "invoice_id",
  minutesCharged: "minutes_charged",
  minutesLeft: "minutes_left",
  endReason: "end_reason",
  acceptedAt: "accepted_at",
  startedAt: "started_at",
  endedAt: "ended_at",
  expiresAt: "expires_at",
  nextChargeAt: "next_charge_at",
  pausedAt: "paused_at",
  userOnline: "user_online",
  expertOnline: "expert_online",
  awaySince: "away_since",
  queuedAt: "queued_at",
  settlementPending: "settlement_pending",
};

/** The unique indexes whose violations are the model's own rules (see DuplicateRecord). */
const UNIQUE_RULES: Record<string, UniqueRule> = {
  sessions_request_id: "session_request",
  sessions_one_open_request: "open_request",
  messages_client_msg_id: "client_message",
};

/** A unique violation of one of the model's rules becomes DuplicateRecord; anything else is rethrown. */
const asDuplicate = (error: unknown): never => {
  const { code, constraint_name: constraint } = error as { code?: string; constraint_name?: string };
  const rule = code === "23505" && constraint ? UNIQUE_RULES[constraint] : undefined;
  throw rule ? new DuplicateRecord(rule) : error;
};

/** The columns of a MeteredSession, as metering's statements return them. */
const METERED =
  "s.id, s.user_id, s.expert_id, s.status, s.rate_minor, s.currency, s.hold_id, s.minutes_charged, s.minutes_left, s.next_charge_at, s.paused_at";

const toMetered = (row: Row): MeteredSession => ({
  id: row.id as string,
  userId: row.user_id as string,
  expertId: row.expert_id as string,
  status: row.status as SessionStatus,
  rateMinor: BigInt(row.rate_minor as bigint),
  currency: row.currency as string,
  holdId: (row.hold_id as string | null) ?? null,
  minutesCharged: Number(row.minutes_charged),
  minutesLeft: BigInt(row.minutes_left as bigint),
  nextChargeAt: (row.next_charge_at as Date | null) ?? null,
  pausedAt: (row.paused_at as Date | null) ?? null,
});

const toClaim = (row: Row): MeteringClaim => ({
  session: toMetered(row),
  epoch: BigInt(row.lease_epoch as bigint),
  unresolved: row.unresolved as boolean,
});

/**
 * Rows of events as one JSON array parameter, each row [text…, body]: the bodies are already
 * JSON, so they are spliced in rather than escaped again as strings of an array parameter.
 */
const eventRows = (rows: string[][]): string =>
  `[${rows
    .map(
      (row) =>
        `[${row
          .slice(0, -1)
          .map((text) => JSON.stringify(text))
          .join(",")},${row.at(-1)}]`,
    )
    .join(",")}]`;

const toLeased = (row: Row): Leased => ({
  session: toSession(row),
  epoch: BigInt(row.lease_epoch as bigint),
});

/** Notification intents waiting for the relay (workers/notifications.ts). */
export const NOTIFICATION_OUTBOX = "sessions.notification_outbox";

function transactional(sql: Sql): SessionTx {
  const claim = (where: ReturnType<Sql>, limit: number) =>
    sql`select * from sessions.sessions where ${where} order by id limit ${limit} for update skip locked`.then(
      (rows) => rows.map(toSession),
    );
  const appendEvents = async (events: NewEvent[]): Promise<SessionEvent[]> => {
    if (events.length === 0) return [];
    const counts = new Map<string, number>();
    for (const event of events) counts.set(event.sessionId, (counts.get(event.sessionId) ?? 0) + 1);
    // The row lock taken by this update orders seq allocation per session: a later seq
    // always commits after an earlier one.
    const bumped = await sql`update sessions.sessions s set last_seq = s.last_seq + v.n
      from unnest(${[...counts.keys()]}::uuid[], ${[...counts.values()]}::int[]) as v(id, n)
      where s.id = v.id returning s.id, s.last_seq`;
    const next = new Map<string, bigint>();
    for (const row of bumped)
      next.set(row.id as string, BigInt(row.last_seq as bigint) - BigInt(counts.get(row.id as string)!) + 1n);
    const stored = events.map((event): SessionEvent => {
      const seq = next.get(event.sessionId);
      if (seq === undefined) throw new Error(`session ${event.sessionId} vanished inside its transaction`);
      next.set(event.sessionId, seq + 1n);
      return {
        seq,
        sessionId: event.sessionId,
        occurredAt: event.occurredAt,
        body: patchSeq(event.body, seq),
      };
    });
    await sql`insert into sessions.session_events (session_id, seq, occurred_at, body)
      select (e->>0)::uuid, (e->>1)::bigint, (e->>2)::timestamptz, e->3
      from jsonb_array_elements(${eventRows(stored.map((e) => [e.sessionId, e.seq.toString(), e.occurredAt.toISOString(), eventBodyJson(e.body, e.seq)]))}::text::jsonb) as e`;
    return stored;
  };

  return {
    async lockSession(id) {
      const [row] = await sql`select * from sessions.sessions where id = ${id} for update`;
      return row ? toSession(row) : undefined;
    },
    async insertSession(s) {
      await sql`insert into sessions.sessions (id, user_id, expert_id, kind, status, request_id, rate_minor,
        currency, hold_id, requested_at, expires_at)
        values (${s.id}, ${s.userId}, ${s.expertId}, ${s.kind}, ${s.status}, ${s.requestId}, ${s.rateMinor.toString()},
        ${s.currency}, ${s.holdId}, ${s.requestedAt}, ${s.expiresAt})`.catch(asDuplicate);
    },
    async deleteRequest(id) {
      const [row] = await sql<{ status: string }[]>`
        select status from sessions.sessions where id = ${id} for update`;
      if (row?.status !== "requested") return;
      await sql`delete from sessions.session_events where session_id = ${id}`;
      await sql`delete from sessions.sessions where id = ${id}`;
    },
    async updateSession(id, patch) {
      const values: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(patch)) {
        values[COLUMN[key as keyof SessionPatch]] = typeof value === "bigint" ? value.toString() : value;
      }
      const [row] = await sql`update sessions.sessions set ${sql(values)} where id = ${id} returning *`;
      if (!row) throw new Error(`session ${id} vanished inside its transaction`);
      return toSession(row);
    },
    async appendEvent(sessionId, occurredAt, body) {
      const [event] = await appendEvents([{ sessionId, occurredAt, body }]);
      return event!;
    },
    appendEvents,
    enqueueNotifications: (intents) =>
      enqueueOutbox(
        sql,
        NOTIFICATION_OUTBOX,
        intents.map(({ id, ...payload }) => ({ id, payload })),
      ),
    async appendMessage(m) {
      // The stored body is the message as read back; its seq exists only inside the statement,
      // so it is written there in the codec's bigint tag (0 until then).
      const body = eventBodyJson({
        type: "message",
        message: { ...m, seq: 0n, hidden: false, flagged: m.flagged ?? false },
      });
      // One statement, one round trip: the update locks the row and takes the seq (its status
      // re-checked under the lock), the message and its event are stored with that seq. Not
      // active, not started or paused: nothing matches, nothing is stored.
      const [row] = await sql`
        with bumped as (
          update sessions.sessions set last_seq = last_seq + 1
          where id = ${m.sessionId} and status = 'active' and started_at is not null and paused_at is null
          returning id, last_seq
        ), message as (
          insert into sessions.messages (id, session_id, seq, sender_id, kind, text, attachment_url,
            attachment_content_type, client_msg_id, sent_at, flagged)
          select ${m.id}::uuid, id, last_seq, ${m.senderId}, ${m.kind}, ${m.text}, ${m.attachmentUrl},
            ${m.attachmentContentType}, ${m.clientMsgId}, ${m.sentAt}::timestamptz, ${m.flagged ?? false}::bool
          from bumped
          returning *
        ), event as (
          insert into sessions.session_events (session_id, seq, occurred_at, body)
          select session_id, seq, sent_at,
            jsonb_set(${body}::text::jsonb, '{message,seq}', jsonb_build_object('$bigint', seq::text))
          from message
        )
        select * from message`.catch(asDuplicate);
      if (!row) return undefined;
      const message = toMessage(row);
      return {
        message,
        event: {
          seq: message.seq,
          sessionId: message.sessionId,
          occurredAt: message.sentAt,
          body: { type: "message", message },
        },
      };
    },
    async upsertReceipt(sessionId, r) {
      // No row back when neither marker moves (the update's WHERE): then the current one is read.
      const [moved] = await sql`insert into sessions.receipts (session_id, user_id, delivered_seq, read_seq)
        values (${sessionId}, ${r.userId}, ${r.deliveredSeq.toString()}, ${r.readSeq.toString()})
        on conflict (session_id, user_id) do update set
          delivered_seq = greatest(receipts.delivered_seq, excluded.delivered_seq),
          read_seq = greatest(receipts.read_seq, excluded.read_seq)
        where receipts.delivered_seq < excluded.delivered_seq or receipts.read_seq < excluded.read_seq
        returning *`;
      const [row] =
        moved !== undefined
          ? [moved]
          : await sql`select * from sessions.receipts where session_id = ${sessionId} and user_id = ${r.userId}`;
      return {
        receipt: {
          userId: row!.user_id as string,
          deliveredSeq: BigInt(row!.delivered_seq as bigint),
          readSeq: BigInt(row!.read_seq as bigint),
        },
        moved: moved !== undefined,
      };
    },
    async insertReview(r) {
      const rows =
        await sql`insert into sessions.reviews (session_id, expert_id, user_id, rating, text, created_at)
        values (${r.sessionId}, ${r.expertId}, ${r.userId}, ${r.rating}, ${r.text}, ${r.createdAt})
        on conflict do nothing returning session_id`;
      return rows.length === 1;
    },
    async lockExpert(expertId) {
      await sql`select pg_advisory_xact_lock(hashtext(${`session:expert:${expertId}`}))`;
    },
    countActive: (expertId) => countActive(sql, expertId),
    waitingQueue: (expertId) => waitingQueue(sql, expertId),
    async claimDueMinutes(now, leaseUntil, limit, silentBefore) {
      // Due minutes oldest first, with any unresolved claim among them (its minute was due when
      // it was claimed, so a pause since does not hold it back), and paused sessions' minutes
      // due before their pause began (billed time, not charged yet: billing was down, say). The
      // picked ids go into an array, so the update finds them by primary key; no indexed column
      // changes (HOT).
      const rows = await sql`
        with picked as (
          select array_agg(id) as ids,
            coalesce(array_agg(id) filter (where lease_until is not null), '{}') as unresolved
          from (
            select id, lease_until from sessions.sessions
            where status = 'active' and next_charge_at <= ${now}
              and ((lease_until is null and (paused_at is null or next_charge_at <= paused_at)
                  and not exists (select 1 from sessions.presence_seen p
                    where p.session_id = sessions.id and p.seen_at <= ${silentBefore}))
                or lease_until <= ${now})
            order by next_charge_at limit ${limit} for update skip locked
          ) due
        )
        update sessions.sessions s set lease_epoch = s.lease_epoch + 1, lease_until = ${leaseUntil}
        from picked where s.id = any(picked.ids)
        returning ${sql.unsafe(METERED)}, s.lease_epoch, s.id = any(picked.unresolved) as unresolved`;
      return rows.map(toClaim);
    },
    async claimSession(id, leaseUntil) {
      const [row] = await sql`
        with old as (
          select id, lease_until from sessions.sessions where id = ${id} and status = 'active' for update
        )
        update sessions.sessions s set lease_epoch = s.lease_epoch + 1, lease_until = ${leaseUntil}
        from old where s.id = old.id
        returning ${sql.unsafe(METERED)}, s.lease_epoch, old.lease_until is not null as unresolved`;
      return row ? toClaim(row) : undefined;
    },
    async advanceClaimed(minutes, stepSeconds, at) {
      if (minutes.length === 0) return [];
      const events = minutes.flatMap((m) =>
        m.events.map((body, index) => ({ sessionId: m.sessionId, index, body })),
      );
      // One statement: the rows move on and allocate their events' seqs, and the events are stored.
      const rows = await sql`
        with v as (
          select * from unnest(${minutes.map((m) => m.sessionId)}::uuid[], ${minutes.map((m) => m.epoch.toString())}::bigint[],
            ${minutes.map((m) => m.minute)}::int[], ${minutes.map((m) => m.minutesLeft.toString())}::bigint[],
            ${minutes.map((m) => m.events.length)}::int[]) as v(id, epoch, minute, minutes_left, events)
        ), moved as (
          update sessions.sessions s set minutes_charged = v.minute, minutes_left = v.minutes_left,
            next_charge_at = s.next_charge_at + make_interval(secs => ${stepSeconds}), lease_until = null,
            last_seq = s.last_seq + v.events
          from v
          where s.id = v.id and s.lease_epoch = v.epoch and s.status = 'active' and s.minutes_charged = v.minute - 1
          returning ${sql.unsafe(METERED)}, s.last_seq, v.events
        ), stored as (
          insert into sessions.session_events (session_id, seq, occurred_at, body)
          select m.id, m.last_seq - m.events + (e->>1)::int + 1, ${at}, e->2
          from jsonb_array_elements(${eventRows(events.map((e) => [e.sessionId, String(e.index), eventBodyJson(e.body)]))}::text::jsonb) as e
          join moved m on m.id = (e->>0)::uuid
        )
        select * from moved`;
      const bodies = new Map(minutes.map((m) => [m.sessionId, m.events]));
      return rows.map((row) => {
        const session = toMetered(row);
        const first = BigInt(row.last_seq as bigint) - BigInt(row.events as number) + 1n;
        return {
          session,
          events: bodies.get(session.id)!.map(
            (body, index): SessionEvent => ({
              seq: first + BigInt(index),
              sessionId: session.id,
              occurredAt: at,
              body,
            }),
          ),
        };
      });
    },
    async endClaimed(ends, at) {
      if (ends.length === 0) return [];
      const rows = await sql`
        update sessions.sessions s set status = 'ended', end_reason = v.reason, ended_at = ${at},
          next_charge_at = null, paused_at = null, settlement_pending = true, lease_until = null
        from unnest(${ends.map((e) => e.sessionId)}::uuid[], ${ends.map((e) => e.epoch.toString())}::bigint[],
          ${ends.map((e) => e.reason)}::text[]) as v(id, epoch, reason)
        where s.id = v.id and s.lease_epoch = v.epoch and s.status = 'active'
        returning s.*`;
      return rows.map(toSession);
    },
    async releaseClaims(claims, at) {
      if (claims.length === 0) return;
      await sql`update sessions.sessions s set lease_until = ${at}
        from unnest(${claims.map((c) => c.sessionId)}::uuid[], ${claims.map((c) => c.epoch.toString())}::bigint[])
          as v(id, epoch)
        where s.id = v.id and s.lease_epoch = v.epoch and s.status = 'active'`;
    },
    claimExpired: (now, limit) =>
      claim(sql`status in ('requested', 'waiting') and expires_at <= ${now}`, limit),
    // A paused session with a minute due before its pause began waits until chargeDue took it.
    claimAway: (before, limit) =>
      claim(
        sql`status = 'active' and away_since <= ${before} and lease_until is null
          and not coalesce(next_charge_at <= paused_at, false)`,
        limit,
      ),
    claimNeverStarted: (acceptedBefore, limit) =>
      claim(
        sql`status = 'active' and started_at is null and accepted_at <= ${acceptedBefore} and lease_until is null`,
        limit,
      ),
    async claimSilent(before, limit) {
      const rows = await sql`
        select s.*, p.user_id as silent_id from sessions.presence_seen p
        join sessions.sessions s on s.id = p.session_id
        where p.seen_at <= ${before}
        order by p.seen_at limit ${limit} for update of s skip locked`;
      return rows.map((row) => ({ session: toSession(row), userId: row.silent_id as string }));
    },
    async lastSeen(sides) {
      if (sides.length === 0) return new Map();
      const rows = await sql`select p.session_id, p.user_id, p.seen_at from sessions.presence_seen p
        join unnest(${sides.map((s) => s.sessionId)}::uuid[], ${sides.map((s) => s.userId)}::uuid[])
          as v(session_id, user_id) on p.session_id = v.session_id and p.user_id = v.user_id`;
      return new Map(rows.map((row) => [`${row.session_id}/${row.user_id}`, row.seen_at as Date]));
    },
    async markSeen(entries) {
      if (entries.length === 0) return;
      await sql`insert into sessions.presence_seen (session_id, user_id, seen_at)
        select * from unnest(${entries.map((e) => e.sessionId)}::uuid[], ${entries.map((e) => e.userId)}::uuid[],
          ${entries.map((e) => e.at.toISOString())}::timestamptz[])
        on conflict (session_id, user_id) do update set seen_at = excluded.seen_at`;
    },
    async forgetSeen(sides) {
      if (sides.length === 0) return;
      await sql`delete from sessions.presence_seen p
        using unnest(${sides.map((s) => s.sessionId)}::uuid[], ${sides.map((s) => s.userId)}::uuid[])
          as v(session_id, user_id)
        where p.session_id = v.session_id and p.user_id = v.user_id`;
    },
    claimToPause: (before, limit) =>
      claim(sql`status = 'active' and away_since <= ${before} and paused_at is null`, limit),
    async claimSettlement(now, leaseUntil, limit) {
      const rows = await sql`
        with picked as (
          select id from sessions.sessions
          where settlement_pending and (lease_until is null or lease_until <= ${now})
          order by id limit ${limit} for update skip locked
        )
        update sessions.sessions s set lease_epoch = s.lease_epoch + 1, lease_until = ${leaseUntil}
        from picked where s.id = picked.id returning s.*`;
      return rows.map(toLeased);
    },
    async claimSettlementOf(id, now, leaseUntil) {
      const [row] = await sql`
        update sessions.sessions set lease_epoch = lease_epoch + 1, lease_until = ${leaseUntil}
        where id = ${id} and settlement_pending and (lease_until is null or lease_until <= ${now})
        returning *`;
      return row ? toLeased(row) : undefined;
    },
    async finishSettlement(id, epoch, invoiceId) {
      const [row] = await sql`
        update sessions.sessions set settlement_pending = false, invoice_id = coalesce(${invoiceId}, invoice_id),
          lease_until = null
        where id = ${id} and lease_epoch = ${epoch.toString()} returning *`;
      return row ? toSession(row) : undefined;
    },
    async releaseSettlement(id, epoch) {
      await sql`update sessions.sessions set lease_until = null
        where id = ${id} and lease_epoch = ${epoch.toString()}`;
    },
    async lockPresenceTargets(userId, sessionId) {
      const rows = sessionId
        ? await sql`select * from sessions.sessions where id = ${sessionId}
            and status in ('requested', 'waiting', 'active')
            and (user_id = ${userId} or expert_id = ${userId}) for update`
        : await sql`select * from sessions.sessions where status = 'active'
            and (user_id = ${userId} or expert_id = ${userId}) order by id for update`;
      return rows.map(toSession);
    },
    async lastLeft(sessionId, userId) {
      const [row] = await sql`select max(at) as at from sessions.presence_log
        where session_id = ${sessionId} and user_id = ${userId} and not online`;
      return (row?.at as Date | null) ?? undefined;
    },
    async logPresence(entries) {
      if (entries.length === 0) return;
      // Booleans travel as text: postgres.js does not send a boolean array as one.
      await sql`insert into sessions.presence_log (session_id, user_id, online, at)
        select v.session_id, v.user_id, v.online::bool, v.at
        from unnest(${entries.map((e) => e.sessionId)}::uuid[], ${entries.map((e) => e.userId)}::uuid[],
          ${entries.map((e) => String(e.online))}::text[], ${entries.map((e) => e.at.toISOString())}::timestamptz[])
          as v(session_id, user_id, online, at)`;
    },
    insertReport: (report) => insertReport(sql, report),
  };
}

function patchSeq(body: EventBody, seq: bigint): EventBody {
  return body.type === "message" ? { ...body, message: { ...body.message, seq } } : body;
}

const countActive = async (sql: Sql, expertId: string) => {
  const [row] =
    await sql`select count(*)::int as n from sessions.sessions where expert_id = ${expertId} and status = 'active'`;
  return Number(row!.n);
};

const waitingQueue = async (sql: Sql, expertId: string) =>
  (
    await sql`
      select * from sessions.sessions where expert_id = ${expertId} and status = 'waiting'
      order by queued_at, id`
  ).map(toSession);

/** Whether either of two people blocked the other; each is a value or a column (a fragment). */
const eitherBlocked = (sql: Sql, a: ParameterOrFragment<never>, b: ParameterOrFragment<never>) =>
  sql`exists (select 1 from sessions.blocks
    where (blocker_id = ${a} and blocked_id = ${b}) or (blocker_id = ${b} and blocked_id = ${a}))`;

export function createSessionStore(sql: Sql): SessionStore {
  return {
    transaction: (work) => sql.begin((tx) => work(transactional(tx as unknown as Sql))) as Promise<never>,
    statement: (work) => work(transactional(sql)),
    async getSession(id) {
      const [row] = await sql`select * from sessions.sessions where id = ${id}`;
      return row ? toSession(row) : undefined;
    },
    async getSessionForMessage(id, senderId, clientMsgId) {
      const [row] = await sql`select s.*,
          ${eitherBlocked(sql, sql`s.user_id`, sql`s.expert_id`)} as blocked,
          exists (select 1 from sessions.messages m where m.session_id = s.id
            and m.sender_id = ${senderId} and m.client_msg_id = ${clientMsgId}) as retried
        from sessions.sessions s where s.id = ${id}`;
      return row
        ? { session: toSession(row), blocked: row.blocked as boolean, retried: row.retried as boolean }
        : undefined;
    },
    async findByRequestId(userId, requestId) {
      const [row] =
        await sql`select * from sessions.sessions where user_id = ${userId} and request_id = ${requestId}`;
      return row ? toSession(row) : undefined;
    },
    async listSessions(f) {
      const who =
        f.asExpert === undefined
          ? sql`(user_id = ${f.participantId} or expert_id = ${f.participantId})`
          : f.asExpert
            ? sql`expert_id = ${f.participantId}`
            : sql`user_id = ${f.participantId}`;
      const rows = await sql`select * from sessions.sessions where ${who}
        ${f.statuses.length ? sql`and status in ${sql(f.statuses)}` : sql``}
        ${f.kind ? sql`and kind = ${f.kind}` : sql``}
        ${f.beforeId ? sql`and id < ${f.beforeId}` : sql``}
        order by id desc limit ${f.limit}`;
      return rows.map(toSession);
    },
    async listLive(beforeId, limit) {
      const rows = await sql`select * from sessions.sessions where status = 'active'
        ${beforeId ? sql`and id < ${beforeId}` : sql``}
        order by id desc limit ${limit}`;
      return rows.map(toSession);
    },
    waitingQueue: (expertId) => waitingQueue(sql, expertId),
    async queueLength(expertId) {
      const [row] = await sql`select count(*)::int as n from sessions.sessions
        where expert_id = ${expertId} and status = 'waiting'`;
      return row!.n as number;
    },
    async findMessage(sessionId, senderId, clientMsgId) {
      const [row] = await sql`select * from sessions.messages where session_id = ${sessionId}
        and sender_id = ${senderId} and client_msg_id = ${clientMsgId}`;
      return row ? toMessage(row) : undefined;
    },
    async listMessages(sessionId, afterSeq, limit) {
      const rows = await sql`select * from sessions.messages where session_id = ${sessionId}
        and seq > ${afterSeq.toString()} order by seq limit ${limit}`;
      return rows.map(toMessage);
    },
    async lastSeqs(sessionIds) {
      const rows =
        await sql`select id, last_seq from sessions.sessions where id = any(${sessionIds}::uuid[])`;
      return new Map(rows.map((row) => [row.id as string, BigInt(row.last_seq as bigint)]));
    },
    async eventsBetween(sessionId, afterSeq, uptoSeq) {
      const rows = await sql`select * from sessions.session_events where session_id = ${sessionId}
        and seq > ${afterSeq.toString()} ${uptoSeq === undefined ? sql`` : sql`and seq <= ${uptoSeq.toString()}`}
        order by seq limit ${EVENT_PAGE}`;
      return rows.map(toEvent);
    },
    async getReview(sessionId) {
      const [row] = await sql`select * from sessions.reviews where session_id = ${sessionId}`;
      return row ? toReview(row) : undefined;
    },
    async reviewsToReport(limit) {
      const rows = await sql`select * from sessions.reviews where not rating_reported and hidden_at is null
          order by session_id limit ${limit}`;
      return rows.map(toReview);
    },
    async markRatingReported(sessionId) {
      await sql.begin(async (tx) => {
        const [review] = await tx`update sessions.reviews set rating_reported = true
          where session_id = ${sessionId} returning expert_id, hidden_at`;
        // Hidden while its report was on its way: the retraction sent then found nothing to take
        // back, and the report has just added the rating. Retracted again, after it.
        if (review?.hidden_at)
          await enqueueSafetySync(tx as unknown as Sql, [
            { kind: "retract_rating", expertId: review.expert_id as string, sessionId },
          ]);
      });
    },
    countActive: (expertId) => countActive(sql, expertId),
    async hiddenMessages(messageIds) {
      const rows = await sql`select id from sessions.messages where id = any(${messageIds}::uuid[])
        and hidden_at is not null`;
      return new Set(rows.map((row) => row.id as string));
    },
    async blockedBetween(a, b) {
      const [row] = await sql`select ${eitherBlocked(sql, a, b)} as blocked`;
      return row!.blocked as boolean;
    },
    async openSessionsBetween(a, b) {
      const rows = await sql`select * from sessions.sessions
        where status in ('requested', 'waiting', 'active')
          and ((user_id = ${a} and expert_id = ${b}) or (user_id = ${b} and expert_id = ${a}))
        order by id`;
      return rows.map(toSession);
    },
  };
}

const toReview = (row: Row): ReviewRecord => ({
  sessionId: row.session_id as string,
  expertId: row.expert_id as string,
  userId: row.user_id as string,
  rating: Number(row.rating),
  text: row.text as string,
  createdAt: row.created_at as Date,
});
