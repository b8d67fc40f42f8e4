import { failedPrecondition } from "@parley/kit/errors";
import type { NotificationIntent as Intent } from "@parley/kit/notify";

export type SessionKind = "chat" | "call";
export type SessionStatus =
  | "requested"
  | "waiting"
  | "active"
  | "ended"
  | "cancelled"
  | "declined"
  | "expired";
export type EndReason =
  | "user_ended"
  | "expert_ended"
  | "operator_ended"
  | "billing_refused"
  | "insufficient_funds"
  | "declined"
  | "expired"
  | "cancelled"
  | "disconnected"
  /** Staff suspended the user or the expert (auth's back office). */
  | "account_suspended"
  /** Staff froze the paying wallet: billing refuses its minutes (WALLET_FROZEN). */
  | "wallet_frozen"
  /** One participant blocked the other. */
  | "blocked";

export interface SessionRecord {
  id: string;
  userId: string;
  expertId: string;
  kind: SessionKind;
  status: SessionStatus;
  requestId: string;
  rateMinor: bigint;
  currency: string;
  holdId: string | null;
  invoiceId: string | null;
  minutesCharged: number;
  minutesLeft: bigint;
  endReason: EndReason | null;
  requestedAt: Date;
  acceptedAt: Date | null;
  startedAt: Date | null;
  endedAt: Date | null;
  expiresAt: Date;
  nextChargeAt: Date | null;
  pausedAt: Date | null;
  userOnline: boolean;
  expertOnline: boolean;
  /**
   * Active: since when a participant has been away (metering pauses after the grace). Before
   * acceptance: since when the user, who had the session open, has been gone.
   */
  awaySince: Date | null;
  settlementPending: boolean;
  /** When the request joined the expert's queue (its hold placed): the queue's order. */
  queuedAt: Date | null;
  lastSeq: bigint;
}

export type MessageKind = "text" | "image" | "file" | "system";

export interface MessageRecord {
  id: string;
  sessionId: string;
  seq: bigint;
  senderId: string;
  kind: MessageKind;
  text: string;
  attachmentUrl: string;
  attachmentContentType: string;
  clientMsgId: string;
  sentAt: Date;
  /** A moderator hid it (participants read it without content). */
  hidden?: boolean;
  /** The contact filter found contact details in it. */
  flagged?: boolean;
}

export interface ReceiptRecord {
  userId: string;
  deliveredSeq: bigint;
  readSeq: bigint;
}

export interface ReviewRecord {
  sessionId: string;
  expertId: string;
  userId: string;
  rating: number;
  text: string;
  createdAt: Date;
}

export type SignalKind = "offer" | "answer" | "ice_candidate" | "hangup";

/** What happened; stored events get a seq, ephemeral ones (typing, signals, heartbeats) carry 0. */
export type EventBody =
  | { type: "message"; message: MessageRecord }
  | { type: "receipt"; receipt: ReceiptRecord }
  | { type: "typing"; userId: string; typing: boolean }
  | { type: "status_changed"; session: SessionRecord }
  | { type: "queue_position"; position: number; estimatedWaitSeconds: number }
  | { type: "minute_charged"; minute: number; amountMinor: bigint; currency: string; minutesLeft: bigint }
  | { type: "low_balance"; minutesLeft: bigint }
  | { type: "call_signal"; fromUserId: string; kind: SignalKind; payload: string }
  | { type: "heartbeat" };

export interface SessionEvent {
  seq: bigint;
  sessionId: string;
  occurredAt: Date;
  body: EventBody;
}

/**
 * The lifecycle: requested → waiting → active → ended, or out of waiting as cancelled,
 * declined or expired. A request stuck in `requested` (the process died while placing its
 * hold) expires like a waiting one. Everything else is refused.
 */
const TRANSITIONS: Record<SessionStatus, readonly SessionStatus[]> = {
  requested: ["waiting", "cancelled", "expired"],
  waiting: ["active", "cancelled", "declined", "expired"],
  active: ["ended"],
  ended: [],
  cancelled: [],
  declined: [],
  expired: [],
};

export function assertTransition(from: SessionStatus, to: SessionStatus): void {
  if (!TRANSITIONS[from].includes(to))
    throw failedPrecondition("INVALID_SESSION_TRANSITION", `a ${from} session cannot become ${to}`, {
      metadata: { from, to },
    });
}

/** A unique rule of the model that a write would break (the store reports which one). */
export type UniqueRule = "session_request" | "open_request" | "client_message";

/** The store refused a write because another row already holds this unique rule's value. */
export class DuplicateRecord extends Error {
  constructor(readonly rule: UniqueRule) {
    super(`duplicate record (${rule})`);
    this.name = "DuplicateRecord";
  }
}

/**
 * A session a worker claimed under a lease: `epoch` is the lease's number, and the worker's
 * result is recorded only while the row still carries it, so a worker whose lease was taken
 * over (it expired, or EndSession took it) can no longer write.
 */
export interface Leased {
  session: SessionRecord;
  epoch: bigint;
}

/** What metering reads and records of a session (claims and charged minutes return only this). */
export type MeteredSession = Pick<
  SessionRecord,
  | "id"
  | "userId"
  | "expertId"
  | "status"
  | "rateMinor"
  | "currency"
  | "holdId"
  | "minutesCharged"
  | "minutesLeft"
  | "nextChargeAt"
  | "pausedAt"
>;

/**
 * A session claimed for charging its next minute. `unresolved` says an earlier claim never
 * recorded its outcome: that minute may be charged in billing already, and is charged again
 * (billing replays it) before anything else happens to the session.
 */
export interface MeteringClaim {
  session: MeteredSession;
  epoch: bigint;
  unresolved: boolean;
}

/** A notification to send through the outbox: `id` is its idempotency key at the user service. */
export type NotificationIntent = Intent<
  | "request_waiting"
  | "request_cancelled"
  | "request_expired"
  | "session_accepted"
  | "session_declined"
  | "session_expired"
  | "session_ended"
  | "report_resolved"
  | "moderation_warning"
  | "dispute_opened"
  | "dispute_resolved"
>;
