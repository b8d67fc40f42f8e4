import type { LiveFeed } from "@parley/kit/watch";
import type {
  EndReason,
  EventBody,
  Leased,
  MessageRecord,
  MeteredSession,
  MeteringClaim,
  NotificationIntent,
  ReceiptRecord,
  ReviewRecord,
  SessionEvent,
  SessionKind,
  SessionRecord,
  SessionStatus,
} from "./model";
import type { ReportRecord } from "./safety-model";

/** What session needs to know about an expert (from the user service). */
export interface ExpertInfo {
  expertId: string;
  chatRateMinor: bigint;
  callRateMinor: bigint;
  currency: string;
  maxConcurrentSessions: number;
  availability: "available" | "unavailable" | "offline" | "busy";
}

/** The user service as session uses it. */
export interface ExpertDirectory {
  /** undefined when there is no such expert. */
  getExpert(expertId: string): Promise<ExpertInfo | undefined>;
  reportExpertLoad(expertId: string, activeSessions: number): Promise<void>;
  updateRatingSummary(expertId: string, sessionId: string, rating: number): Promise<void>;
  /** Keeps the person's presence (and an expert's availability) current in the user service. */
  reportPresence(userId: string, online: boolean): Promise<void>;
}

/** One minute to charge: billing's key is (sessionId, minute). */
export interface MinuteCharge {
  sessionId: string;
  minute: number;
  payerUserId: string;
  payeeUserId: string;
  amountMinor: bigint;
  currency: string;
  holdId: string | null;
}

/** What billing did with one minute. */
export type ChargeOutcome =
  /** Charged now, or earlier under the same key (replayed): the minute is paid. */
  | { kind: "charged"; minutesLeft: bigint; replayed: boolean }
  | { kind: "insufficient_funds"; shortfallMinor: bigint }
  /** The session's invoice exists: its minutes can no longer change. */
  | { kind: "settled" }
  /** Never as asked (e.g. HOLD_NOT_FOUND): retrying would serve the minute unpaid forever. */
  | { kind: "refused"; reason: string; message: string };

/** The billing service as session uses it; INSUFFICIENT_FUNDS on a hold arrives as an AppError. */
export interface BillingPort {
  placeHold(input: {
    userId: string;
    amountMinor: bigint;
    currency: string;
    requestId: string;
    reference: string;
    ttlSeconds: number;
  }): Promise<{ holdId: string }>;
  releaseHold(holdId: string, requestId: string): Promise<void>;
  /**
   * Up to 1,000 minutes in one call, one outcome per item in order. Throws only when the call
   * as a whole failed (outage, deadline): then any item may or may not have been charged.
   */
  chargeBatch(items: MinuteCharge[]): Promise<ChargeOutcome[]>;
  settleSession(input: {
    sessionId: string;
    payerUserId: string;
    payeeUserId: string;
    holdId: string | null;
    rateMinor: bigint;
    currency: string;
    kind: SessionKind;
  }): Promise<{ invoiceId: string }>;
  /**
   * Gives back part (amount) or all that remains refundable of what a session charged,
   * idempotent by requestId; SESSION_CHARGES_NOT_FOUND arrives as an AppError.
   */
  refund(input: {
    sessionId: string;
    amount?: { minor: bigint; currency: string };
    note: string;
    requestId: string;
  }): Promise<{ refundId: string; amountMinor: bigint }>;
}

/** Live fan-out of a session's events between instances (the bus, as session sees it). */
export interface EventFeed extends LiveFeed<SessionEvent> {
  /** Fire-and-forget: never waits, never throws; a lost event is caught up from the store. */
  publish(event: SessionEvent): void;
}

export type Clock = () => Date;

/** Columns a use case may change on a session row. */
/** What changes of a session after its request: not who, what kind, nor its price (fixed when requested). */
export type SessionPatch = Partial<
  Omit<
    SessionRecord,
    "id" | "userId" | "expertId" | "kind" | "requestId" | "requestedAt" | "lastSeq" | "rateMinor" | "currency"
  >
>;

export interface SessionFilter {
  participantId: string;
  asExpert?: boolean;
  statuses: SessionStatus[];
  kind?: SessionKind;
  beforeId?: string;
  limit: number;
}

/** An event to store: it gets the session's next seq. */
export interface NewEvent {
  sessionId: string;
  occurredAt: Date;
  body: EventBody;
}

/** A metering result to record, only while the claim's epoch still holds. */
export interface ClaimedMinute {
  sessionId: string;
  epoch: bigint;
  minute: number;
  minutesLeft: bigint;
  /** Stored with the minute, in order, when it is recorded (bodies that do not carry their seq). */
  events: EventBody[];
}

/** A claimed session to end, only while the claim's epoch still holds. */
export interface ClaimedEnd {
  sessionId: string;
  epoch: bigint;
  reason: EndReason;
}

/** Queries inside one transaction; events appended here are published after commit. */
/** One participant of one session. */
export interface SessionSide {
  sessionId: string;
  userId: string;
}

export interface SessionTx {
  lockSession(id: string): Promise<SessionRecord | undefined>;
  /** Throws DuplicateRecord("session_request" | "open_request"). */
  insertSession(session: SessionRecord): Promise<void>;
  /** Deletes a request and its events while it is still `requested` (its hold refused); else nothing. */
  deleteRequest(id: string): Promise<void>;
  updateSession(id: string, patch: SessionPatch): Promise<SessionRecord>;
  appendEvent(sessionId: string, occurredAt: Date, body: EventBody): Promise<SessionEvent>;
  /** Many events at once, each session's in the given order. */
  appendEvents(events: NewEvent[]): Promise<SessionEvent[]>;
  /** Writes notification intents to the outbox (an id already there is left alone). */
  enqueueNotifications(intents: NotificationIntent[]): Promise<void>;
  /**
   * Stores a message as its session's next event, only while the session is active: locks the
   * row, takes the next seq for the message and its event, stores both. undefined when the
   * session is not active. Throws DuplicateRecord("client_message") when the sender already
   * used its client id.
   */
  appendMessage(
    message: Omit<MessageRecord, "seq">,
  ): Promise<{ message: MessageRecord; event: SessionEvent } | undefined>;
  /** Moves a participant's markers forward (never back); `moved` false when neither moved. */
  upsertReceipt(
    sessionId: string,
    receipt: ReceiptRecord,
  ): Promise<{ receipt: ReceiptRecord; moved: boolean }>;
  insertReview(review: ReviewRecord): Promise<boolean>;
  /** Serialises capacity decisions for one expert until the transaction ends. */
  lockExpert(expertId: string): Promise<void>;
  countActive(expertId: string): Promise<number>;
  waitingQueue(expertId: string): Promise<SessionRecord[]>;
  /**
   * Claims up to `limit` active sessions with a minute due at `now`, oldest first, under a
   * lease until `leaseUntil` (a new epoch each): those not paused, and those whose earlier
   * claim ran out unresolved (paused since or not). Rows another worker holds are skipped, and so
   * are sessions with a side not heard from since `silentBefore` (gone, maybe: the minute waits
   * for its next heartbeat, or for the presence timeout to pause it).
   */
  claimDueMinutes(now: Date, leaseUntil: Date, limit: number, silentBefore: Date): Promise<MeteringClaim[]>;
  /** Claims one locked, active session the same way (EndSession charging what is due). */
  claimSession(id: string, leaseUntil: Date): Promise<MeteringClaim | undefined>;
  /**
   * Records charged minutes of claims still held (epoch unchanged, still active, minute the
   * next one): minutes_charged, minutes_left, the schedule moved on by `stepSeconds` from
   * where it stands (so a pause shift made meanwhile is kept), lease cleared, and each
   * recorded minute's events stored (at `at`). Returns what was recorded.
   */
  advanceClaimed(
    minutes: ClaimedMinute[],
    stepSeconds: number,
    at: Date,
  ): Promise<Array<{ session: MeteredSession; events: SessionEvent[] }>>;
  /** Ends claims still held (epoch unchanged, still active) for their reasons, at `at`. */
  endClaimed(ends: ClaimedEnd[], at: Date): Promise<SessionRecord[]>;
  /** Gives claims up unresolved: due again at once, and resolved before anything else ends them. */
  releaseClaims(claims: Array<{ sessionId: string; epoch: bigint }>, at: Date): Promise<void>;
  claimExpired(now: Date, limit: number): Promise<SessionRecord[]>;
  /**
   * Active sessions away since `before`, without an unresolved metering claim, and none with a
   * minute due before its pause began (it is charged first).
   */
  claimAway(before: Date, limit: number): Promise<SessionRecord[]>;
  /** Sessions accepted by `acceptedBefore` whose two sides never both connected (no clock started). */
  claimNeverStarted(acceptedBefore: Date, limit: number): Promise<SessionRecord[]>;
  claimToPause(before: Date, limit: number): Promise<SessionRecord[]>;
  /**
   * Sides whose last written heartbeat is `before` or older, oldest first, their sessions locked
   * (SKIP LOCKED; any status: the rows of sessions ended since are cleared too).
   */
  claimSilent(before: Date, limit: number): Promise<Array<{ session: SessionRecord; userId: string }>>;
  /** When each of these sides' last heartbeat was written, for those that have one (`session/user`). */
  lastSeen(sides: SessionSide[]): Promise<Map<string, Date>>;
  /** Writes these sides' heartbeats. */
  markSeen(entries: Array<SessionSide & { at: Date }>): Promise<void>;
  /** Forgets these sides' heartbeats (they left, or went silent). */
  forgetSeen(sides: SessionSide[]): Promise<void>;
  /** Stopped sessions whose money is not settled, under a lease until `leaseUntil`. */
  claimSettlement(now: Date, leaseUntil: Date, limit: number): Promise<Leased[]>;
  /** The same for one session (settling right after it stopped); undefined when settled or leased. */
  claimSettlementOf(sessionId: string, now: Date, leaseUntil: Date): Promise<Leased | undefined>;
  /** Records a settlement, unless another claim has taken the row since. */
  finishSettlement(
    sessionId: string,
    epoch: bigint,
    invoiceId: string | null,
  ): Promise<SessionRecord | undefined>;
  /** Lets the next tick retry a settlement at once. */
  releaseSettlement(sessionId: string, epoch: bigint): Promise<void>;
  /**
   * The sessions a presence report applies to, locked: the one named while it is open
   * (requested, waiting or active: who is there when it is accepted matters), else every active
   * one of the person's.
   */
  lockPresenceTargets(userId: string, sessionId: string | undefined): Promise<SessionRecord[]>;
  /** When the participant last left the session (the presence log), if ever. */
  lastLeft(sessionId: string, userId: string): Promise<Date | undefined>;
  /** Connection changes of participants of open sessions (dispute evidence). */
  logPresence(
    entries: Array<{ sessionId: string; userId: string; online: boolean; at: Date }>,
  ): Promise<void>;
  /** A report into the moderation queue (the contact filter's flags). */
  insertReport(report: ReportRecord): Promise<boolean>;
}

/** The session service's storage (implemented in persistence/store.ts over Postgres). */
export interface SessionStore {
  transaction<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  /**
   * Runs work that makes exactly one statement, outside a transaction: a statement is atomic
   * on its own, and BEGIN and COMMIT are two round trips fewer (SendMessage's write).
   */
  statement<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * SendMessage's read, one statement: the session, whether its two people blocked each other,
   * and whether the sender already sent `clientMsgId` in it (a retry).
   */
  getSessionForMessage(
    id: string,
    senderId: string,
    clientMsgId: string,
  ): Promise<{ session: SessionRecord; blocked: boolean; retried: boolean } | undefined>;
  findByRequestId(userId: string, requestId: string): Promise<SessionRecord | undefined>;
  listSessions(filter: SessionFilter): Promise<SessionRecord[]>;
  /** Active sessions in id order, newest first, before `beforeId`. */
  listLive(beforeId: string | undefined, limit: number): Promise<SessionRecord[]>;
  waitingQueue(expertId: string): Promise<SessionRecord[]>;
  /** How many requests wait in the expert's queue. */
  queueLength(expertId: string): Promise<number>;
  findMessage(sessionId: string, senderId: string, clientMsgId: string): Promise<MessageRecord | undefined>;
  listMessages(sessionId: string, afterSeq: bigint, limit: number): Promise<MessageRecord[]>;
  /** Stored events after `afterSeq` (up to `uptoSeq`) in seq order, a page at a time (the first page). */
  eventsBetween(sessionId: string, afterSeq: bigint, uptoSeq: bigint | undefined): Promise<SessionEvent[]>;
  /** Which of these messages a moderator hid. */
  hiddenMessages(messageIds: string[]): Promise<Set<string>>;
  /** The last stored seq of each session asked for (absent: no such session). */
  lastSeqs(sessionIds: string[]): Promise<Map<string, bigint>>;
  getReview(sessionId: string): Promise<ReviewRecord | undefined>;
  reviewsToReport(limit: number): Promise<ReviewRecord[]>;
  /** The review's rating is counted in user; one hidden meanwhile has its retraction queued again. */
  markRatingReported(sessionId: string): Promise<void>;
  countActive(expertId: string): Promise<number>;
  /** Whether either person blocked the other. */
  blockedBetween(a: string, b: string): Promise<boolean>;
  /** Requests and sessions still open between two people (requested, waiting, active). */
  openSessionsBetween(a: string, b: string): Promise<SessionRecord[]>;
}
