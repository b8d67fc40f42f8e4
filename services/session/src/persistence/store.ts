import type { Sql } from "@parley/kit/db";
import type {
  EventBody,
  MessageRecord,
  ReceiptRecord,
  ReviewRecord,
  SessionEvent,
  SessionKind,
  SessionRecord,
  SessionStatus,
} from "../domain/model";
import { decodeEventBody, encodeEventBody } from "./codec";

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

const toMessage = (row: Row): MessageRecord => ({
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
});

const toEvent = (row: Row): SessionEvent => ({
  seq: BigInt(row.seq as bigint),
  sessionId: row.session_id as string,
  occurredAt: row.occurred_at as Date,
  body: decodeEventBody(row.body),
});

/** Columns a use case may change on a session row. */
export type SessionPatch = Partial<
  Omit<SessionRecord, "id" | "userId" | "expertId" | "kind" | "requestId" | "requestedAt" | "lastSeq">
>;

const COLUMN: Record<keyof SessionPatch, string> = {
  status: "status",
  rateMinor: "rate_minor",
  currency: "currency",
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

export interface SessionFilter {
  participantId: string;
  asExpert?: boolean;
  statuses: SessionStatus[];
  kind?: SessionKind;
  beforeId?: string;
  limit: number;
}

/** Queries inside one transaction; events appended here are published after commit. */
export interface SessionTx {
  lockSession(id: string): Promise<SessionRecord | undefined>;
  insertSession(session: SessionRecord): Promise<void>;
  deleteSession(id: string): Promise<void>;
  updateSession(id: string, patch: SessionPatch): Promise<SessionRecord>;
  appendEvent(sessionId: string, occurredAt: Date, body: EventBody): Promise<SessionEvent>;
  insertMessage(message: Omit<MessageRecord, "seq">): Promise<MessageRecord>;
  upsertReceipt(sessionId: string, receipt: ReceiptRecord): Promise<ReceiptRecord>;
  insertReview(review: ReviewRecord): Promise<boolean>;
  /** Serialises capacity decisions for one expert until the transaction ends. */
  lockExpert(expertId: string): Promise<void>;
  countActive(expertId: string): Promise<number>;
  waitingQueue(expertId: string): Promise<SessionRecord[]>;
  /** Due metering rows, locked; rows another worker holds are skipped. */
  claimDue(now: Date, limit: number): Promise<SessionRecord[]>;
  claimExpired(now: Date, limit: number): Promise<SessionRecord[]>;
  claimAway(before: Date, limit: number): Promise<SessionRecord[]>;
  claimToPause(before: Date, limit: number): Promise<SessionRecord[]>;
  claimSettlement(limit: number): Promise<SessionRecord[]>;
  lockActiveFor(userId: string, sessionId: string | undefined): Promise<SessionRecord[]>;
}

export interface SessionStore {
  transaction<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  findByRequestId(userId: string, requestId: string): Promise<SessionRecord | undefined>;
  listSessions(filter: SessionFilter): Promise<SessionRecord[]>;
  waitingQueue(expertId: string): Promise<SessionRecord[]>;
  findMessage(sessionId: string, senderId: string, clientMsgId: string): Promise<MessageRecord | undefined>;
  listMessages(sessionId: string, afterSeq: bigint, limit: number): Promise<MessageRecord[]>;
  eventsBetween(sessionId: string, afterSeq: bigint, uptoSeq: bigint | undefined): Promise<SessionEvent[]>;
  getReview(sessionId: string): Promise<ReviewRecord | undefined>;
  reviewsToReport(limit: number): Promise<ReviewRecord[]>;
  markRatingReported(sessionId: string): Promise<void>;
  countActive(expertId: string): Promise<number>;
}

function transactional(sql: Sql): SessionTx {
  const claim = (where: ReturnType<Sql>, limit: number) =>
    sql`select * from sessions.sessions where ${where} order by id limit ${limit} for update skip locked`.then(
      (rows) => rows.map(toSession),
    );
  return {
    async lockSession(id) {
      const [row] = await sql`select * from sessions.sessions where id = ${id} for update`;
      return row ? toSession(row) : undefined;
    },
    async insertSession(s) {
      await sql`insert into sessions.sessions (id, user_id, expert_id, kind, status, request_id, rate_minor,
        currency, hold_id, requested_at, expires_at)
        values (${s.id}, ${s.userId}, ${s.expertId}, ${s.kind}, ${s.status}, ${s.requestId}, ${s.rateMinor.toString()},
        ${s.currency}, ${s.holdId}, ${s.requestedAt}, ${s.expiresAt})`;
    },
    async deleteSession(id) {
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
      // The row lock taken by this update orders seq allocation per session: a later seq
      // always commits after an earlier one.
      const [row] =
        await sql`update sessions.sessions set last_seq = last_seq + 1 where id = ${sessionId} returning last_seq`;
      const seq = BigInt(row!.last_seq as bigint);
      await sql`insert into sessions.session_events (session_id, seq, occurred_at, body)
        values (${sessionId}, ${seq.toString()}, ${occurredAt}, ${sql.json(encodeEventBody(body, seq) as never)})`;
      return { seq, sessionId, occurredAt, body: patchSeq(body, seq) };
    },
    async insertMessage(m) {
      const [row] = await sql`select last_seq from sessions.sessions where id = ${m.sessionId}`;
      const seq = BigInt(row!.last_seq as bigint) + 1n;
      const [inserted] = await sql`insert into sessions.messages (id, session_id, seq, sender_id, kind, text,
        attachment_url, attachment_content_type, client_msg_id, sent_at)
        values (${m.id}, ${m.sessionId}, ${seq.toString()}, ${m.senderId}, ${m.kind}, ${m.text}, ${m.attachmentUrl},
        ${m.attachmentContentType}, ${m.clientMsgId}, ${m.sentAt}) returning *`;
      return toMessage(inserted!);
    },
    async upsertReceipt(sessionId, r) {
      const [row] = await sql`insert into sessions.receipts (session_id, user_id, delivered_seq, read_seq)
        values (${sessionId}, ${r.userId}, ${r.deliveredSeq.toString()}, ${r.readSeq.toString()})
        on conflict (session_id, user_id) do update set
          delivered_seq = greatest(receipts.delivered_seq, excluded.delivered_seq),
          read_seq = greatest(receipts.read_seq, excluded.read_seq)
        returning *`;
      return {
        userId: row!.user_id as string,
        deliveredSeq: BigInt(row!.delivered_seq as bigint),
        readSeq: BigInt(row!.read_seq as bigint),
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
    claimDue: (now, limit) =>
      claim(sql`status = 'active' and next_charge_at <= ${now} and paused_at is null`, limit),
    claimExpired: (now, limit) =>
      claim(sql`status in ('requested', 'waiting') and expires_at <= ${now}`, limit),
    claimAway: (before, limit) => claim(sql`status = 'active' and away_since <= ${before}`, limit),
    claimToPause: (before, limit) =>
      claim(sql`status = 'active' and away_since <= ${before} and paused_at is null`, limit),
    claimSettlement: (limit) => claim(sql`settlement_pending`, limit),
    async lockActiveFor(userId, sessionId) {
      const rows = sessionId
        ? await sql`select * from sessions.sessions where id = ${sessionId} and status = 'active'
            and (user_id = ${userId} or expert_id = ${userId}) for update`
        : await sql`select * from sessions.sessions where status = 'active'
            and (user_id = ${userId} or expert_id = ${userId}) order by id for update`;
      return rows.map(toSession);
    },
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

export function createSessionStore(sql: Sql): SessionStore {
  return {
    transaction: (work) => sql.begin((tx) => work(transactional(tx as unknown as Sql))) as Promise<never>,
    async getSession(id) {
      const [row] = await sql`select * from sessions.sessions where id = ${id}`;
      return row ? toSession(row) : undefined;
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
    waitingQueue: (expertId) => waitingQueue(sql, expertId),
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
    async eventsBetween(sessionId, afterSeq, uptoSeq) {
      const rows = await sql`select * from sessions.session_events where session_id = ${sessionId}
        and seq > ${afterSeq.toString()} ${uptoSeq === undefined ? sql`` : sql`and seq <= ${uptoSeq.toString()}`}
        order by seq`;
      return rows.map(toEvent);
    },
    async getReview(sessionId) {
      const [row] = await sql`select * from sessions.reviews where session_id = ${sessionId}`;
      return row ? toReview(row) : undefined;
    },
    async reviewsToReport(limit) {
      const rows =
        await sql`select * from sessions.reviews where not rating_reported order by session_id limit ${limit}`;
      return rows.map(toReview);
    },
    async markRatingReported(sessionId) {
      await sql`update sessions.reviews set rating_reported = true where session_id = ${sessionId}`;
    },
    countActive: (expertId) => countActive(sql, expertId),
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
