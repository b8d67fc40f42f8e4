import { outboxTable } from "@parley/kit/outbox";
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

export const sessionsSchema = pgSchema("sessions");

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * One consultation, and its metering schedule: `next_charge_at` is the durable per-session
 * schedule row the metering workers claim with FOR UPDATE SKIP LOCKED, under a lease
 * (`lease_epoch`, `lease_until`) committed before billing is called. Stored with fillfactor 80
 * (migration 0005), so claims update in place (HOT).
 */
export const sessions = sessionsSchema.table(
  "sessions",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id").notNull(),
    expertId: uuid("expert_id").notNull(),
    kind: text("kind").notNull(),
    status: text("status").notNull(),
    requestId: text("request_id").notNull(),
    rateMinor: bigint("rate_minor", { mode: "bigint" }).notNull(),
    currency: text("currency").notNull(),
    holdId: text("hold_id"),
    invoiceId: text("invoice_id"),
    minutesCharged: integer("minutes_charged").notNull().default(0),
    minutesLeft: bigint("minutes_left", { mode: "bigint" }).notNull().default(sql`0`),
    endReason: text("end_reason"),
    requestedAt: at("requested_at").notNull(),
    acceptedAt: at("accepted_at"),
    startedAt: at("started_at"),
    endedAt: at("ended_at"),
    expiresAt: at("expires_at").notNull(),
    nextChargeAt: at("next_charge_at"),
    pausedAt: at("paused_at"),
    userOnline: boolean("user_online").notNull().default(false),
    expertOnline: boolean("expert_online").notNull().default(false),
    awaySince: at("away_since"),
    settlementPending: boolean("settlement_pending").notNull().default(false),
    lastSeq: bigint("last_seq", { mode: "bigint" }).notNull().default(sql`0`),
    queuedAt: at("queued_at"),
    /** Bumped by every claim (metering, settlement): a result is recorded only under its own epoch. */
    leaseEpoch: bigint("lease_epoch", { mode: "bigint" }).notNull().default(sql`0`),
    /** Set while a claim is out: live until then; an active row with it set holds an unresolved minute. */
    leaseUntil: at("lease_until"),
  },
  (table) => [
    uniqueIndex("sessions_request_id").on(table.userId, table.requestId),
    uniqueIndex("sessions_one_open_request")
      .on(table.userId, table.expertId)
      .where(sql`status in ('requested', 'waiting')`),
    index("sessions_user").on(table.userId, table.id),
    index("sessions_expert").on(table.expertId, table.status, table.id),
    index("sessions_queue").on(table.expertId, table.queuedAt, table.id).where(sql`status = 'waiting'`),
    // Claims scan this in due order, skipping leased and paused rows by filter: no index (or
    // index predicate) names the lease columns, so taking a claim is a HOT update.
    index("sessions_due").on(table.nextChargeAt).where(sql`status = 'active'`),
    index("sessions_away").on(table.awaySince).where(sql`status = 'active' and away_since is not null`),
    index("sessions_unstarted").on(table.acceptedAt).where(sql`status = 'active' and started_at is null`),
    index("sessions_request_expiry").on(table.expiresAt).where(sql`status in ('requested', 'waiting')`),
    index("sessions_settlement").on(table.id).where(sql`settlement_pending`),
  ],
);

/** Every stored event of a session, in seq order: what WatchSession replays. */
export const sessionEvents = sessionsSchema.table(
  "session_events",
  {
    sessionId: uuid("session_id").notNull(),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    occurredAt: at("occurred_at").notNull(),
    body: jsonb("body").notNull(),
  },
  (table) => [primaryKey({ columns: [table.sessionId, table.seq] })],
);

export const messages = sessionsSchema.table(
  "messages",
  {
    id: uuid("id").primaryKey(),
    sessionId: uuid("session_id").notNull(),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    senderId: text("sender_id").notNull(),
    kind: text("kind").notNull(),
    text: text("text").notNull(),
    attachmentUrl: text("attachment_url").notNull(),
    attachmentContentType: text("attachment_content_type").notNull(),
    clientMsgId: text("client_msg_id").notNull(),
    sentAt: at("sent_at").notNull(),
    /** A moderator hid it: participants read it without text or attachment. */
    hiddenAt: at("hidden_at"),
    /** The contact filter found contact details in it. */
    flagged: boolean("flagged").notNull().default(false),
  },
  (table) => [
    uniqueIndex("messages_seq").on(table.sessionId, table.seq),
    uniqueIndex("messages_client_msg_id").on(table.sessionId, table.senderId, table.clientMsgId),
  ],
);

/** Per-participant delivered/read markers; they only move forward. */
export const receipts = sessionsSchema.table(
  "receipts",
  {
    sessionId: uuid("session_id").notNull(),
    userId: uuid("user_id").notNull(),
    deliveredSeq: bigint("delivered_seq", { mode: "bigint" }).notNull(),
    readSeq: bigint("read_seq", { mode: "bigint" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.sessionId, table.userId] })],
);

export const reviews = sessionsSchema.table(
  "reviews",
  {
    sessionId: uuid("session_id").primaryKey(),
    expertId: uuid("expert_id").notNull(),
    userId: uuid("user_id").notNull(),
    rating: smallint("rating").notNull(),
    text: text("text").notNull(),
    createdAt: at("created_at").notNull(),
    ratingReported: boolean("rating_reported").notNull().default(false),
    /** The expert's one reply. */
    reply: text("reply"),
    repliedAt: at("replied_at"),
    /** A moderator hid it: gone from public reads and from the rating summary. */
    hiddenAt: at("hidden_at"),
  },
  (table) => [
    index("reviews_expert_public")
      .on(table.expertId, table.createdAt, table.sessionId)
      .where(sql`hidden_at is null`),
  ],
);

/** Notification intents, written in the transaction of the change they tell of (kit outbox). */
export const notificationOutbox = outboxTable(sessionsSchema, "notification_outbox");

// ---- Trust and safety (SafetyService) ----

/**
 * Who blocked whom. A pair meets by no path while either direction holds (requests and
 * messages checked here; discovery by the user service's copy, kept by the safety outbox).
 */
export const blocks = sessionsSchema.table(
  "blocks",
  {
    blockerId: uuid("blocker_id").notNull(),
    blockedId: uuid("blocked_id").notNull(),
    createdAt: at("created_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.blockerId, table.blockedId] }),
    index("blocks_blocked").on(table.blockedId, table.blockerId),
  ],
);

/** Changes the user service must mirror (block copies, retracted ratings), sent in order per key. */
export const safetyOutbox = outboxTable(sessionsSchema, "safety_outbox");

/** The moderation queue: people's reports and the contact filter's flags. */
export const reports = sessionsSchema.table(
  "reports",
  {
    id: uuid("id").primaryKey(),
    reporterId: uuid("reporter_id"),
    requestId: text("request_id"),
    targetKind: text("target_kind").notNull(),
    targetId: uuid("target_id").notNull(),
    subjectUserId: uuid("subject_user_id").notNull(),
    sessionId: uuid("session_id"),
    reason: text("reason").notNull(),
    note: text("note").notNull(),
    source: text("source").notNull(),
    status: text("status").notNull(),
    resolution: text("resolution"),
    resolutionNote: text("resolution_note"),
    resolvedBy: uuid("resolved_by"),
    createdAt: at("created_at").notNull(),
    resolvedAt: at("resolved_at"),
    /** Set while a suspension for it is being made in auth (by whom): no other resolution meanwhile. */
    suspendingSince: at("suspending_since"),
    suspendingBy: uuid("suspending_by"),
  },
  (table) => [
    uniqueIndex("reports_request").on(table.reporterId, table.requestId),
    index("reports_queue").on(table.status, table.id),
  ],
);

/**
 * Each connected side's last heartbeat (written at most every 20 s), kept apart from the session
 * row so a heartbeat's write touches two small indexes, not every index of sessions. A row goes
 * when its side leaves; one whose side went silent is found by `seen_at` and cleared by the tick.
 */
export const presenceSeen = sessionsSchema.table(
  "presence_seen",
  {
    sessionId: uuid("session_id").notNull(),
    userId: uuid("user_id").notNull(),
    seenAt: at("seen_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.sessionId, table.userId] }),
    index("presence_seen_at").on(table.seenAt),
  ],
);

/** Each participant's connection changes during active sessions: dispute evidence. */
export const presenceLog = sessionsSchema.table(
  "presence_log",
  {
    sessionId: uuid("session_id").notNull(),
    userId: uuid("user_id").notNull(),
    online: boolean("online").notNull(),
    at: at("at").notNull(),
  },
  (table) => [index("presence_log_session").on(table.sessionId, table.at)],
);

/** One dispute per session, with the evidence snapshot taken when it was opened. */
export const disputes = sessionsSchema.table(
  "disputes",
  {
    id: uuid("id").primaryKey(),
    sessionId: uuid("session_id").notNull(),
    userId: uuid("user_id").notNull(),
    expertId: uuid("expert_id").notNull(),
    reason: text("reason").notNull(),
    note: text("note").notNull(),
    status: text("status").notNull(),
    evidence: jsonb("evidence").notNull(),
    proposedOutcome: text("proposed_outcome").notNull(),
    proposedRule: text("proposed_rule").notNull(),
    proposedRefundMinor: bigint("proposed_refund_minor", { mode: "bigint" }).notNull(),
    currency: text("currency").notNull(),
    refundedMinor: bigint("refunded_minor", { mode: "bigint" }),
    refundId: text("refund_id"),
    resolutionNote: text("resolution_note"),
    resolvedBy: uuid("resolved_by"),
    createdAt: at("created_at").notNull(),
    resolvedAt: at("resolved_at"),
    /**
     * The decision being made, with its refund's amount (null: all of it; its refund on its way
     * to billing, keyed by the dispute): no other may be made meanwhile.
     */
    decision: text("decision"),
    decisionAmountMinor: bigint("decision_amount_minor", { mode: "bigint" }),
  },
  (table) => [
    uniqueIndex("disputes_session").on(table.sessionId),
    index("disputes_queue").on(table.status, table.id),
  ],
);

/** The expert's rating of the user of a session (seed 004 user_rating): experts and staff read it. */
export const userRatings = sessionsSchema.table(
  "user_ratings",
  {
    sessionId: uuid("session_id").primaryKey(),
    userId: uuid("user_id").notNull(),
    expertId: uuid("expert_id").notNull(),
    rating: smallint("rating").notNull(),
    text: text("text").notNull(),
    createdAt: at("created_at").notNull(),
  },
  (table) => [index("user_ratings_user").on(table.userId)],
);

// ---- Expert metrics (GetExpertDashboard), kept by triggers as sessions and reviews change ----

/** Per expert and calendar month (UTC): requests, sessions that ran and ended, visible ratings. */
export const expertMonthly = sessionsSchema.table(
  "expert_monthly",
  {
    expertId: uuid("expert_id").notNull(),
    month: date("month", { mode: "string" }).notNull(),
    requests: integer("requests").notNull().default(0),
    completed: integer("completed").notNull().default(0),
    ratingSum: integer("rating_sum").notNull().default(0),
    ratingCount: integer("rating_count").notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.expertId, table.month] })],
);

/** Per expert, all time: distinct clients, clients who came back, when last active. */
export const expertStats = sessionsSchema.table("expert_stats", {
  expertId: uuid("expert_id").primaryKey(),
  clients: integer("clients").notNull().default(0),
  repeatClients: integer("repeat_clients").notNull().default(0),
  lastActiveAt: at("last_active_at"),
});

/** How many sessions each client had with each expert (what makes a repeat client). */
export const expertClients = sessionsSchema.table(
  "expert_clients",
  {
    expertId: uuid("expert_id").notNull(),
    userId: uuid("user_id").notNull(),
    sessions: integer("sessions").notNull(),
  },
  (table) => [primaryKey({ columns: [table.expertId, table.userId] })],
);

/** Seconds from a session's start to the expert's first message, by the month it ended. */
export const firstResponses = sessionsSchema.table(
  "first_responses",
  {
    sessionId: uuid("session_id").primaryKey(),
    expertId: uuid("expert_id").notNull(),
    month: date("month", { mode: "string" }).notNull(),
    seconds: integer("seconds").notNull(),
  },
  (table) => [index("first_responses_expert_month").on(table.expertId, table.month, table.seconds)],
);

/** Experts whose public figures changed since they were last sent to the user service. */
export const expertMetricsDirty = sessionsSchema.table("expert_metrics_dirty", {
  expertId: uuid("expert_id").primaryKey(),
});
