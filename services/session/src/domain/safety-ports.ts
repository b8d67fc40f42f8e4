import type { MessageRecord, NotificationIntent } from "./model";
import type {
  BlockRecord,
  DisputeDecision,
  DisputeRecord,
  DisputeStatus,
  PresenceChange,
  PublicReviewRecord,
  ReportRecord,
  ReportSource,
  ReportStatus,
  SafetySync,
  UserRatingRecord,
} from "./safety-model";

/** Writes of one trust-and-safety transaction (persistence/safety-store.ts). */
export interface SafetyTx {
  /** False when the block was already there. */
  insertBlock(block: BlockRecord): Promise<boolean>;
  /** False when there was no such block. */
  deleteBlock(blockerId: string, blockedId: string): Promise<boolean>;
  /** Changes the user service mirrors, in order per key (a pair, an expert). */
  enqueueSync(items: SafetySync[]): Promise<void>;
  enqueueNotifications(intents: NotificationIntent[]): Promise<void>;
  /** False when the reporter already used this request id (nothing written). */
  insertReport(report: ReportRecord): Promise<boolean>;
  lockReport(id: string): Promise<ReportRecord | undefined>;
  /** Whether a suspension for this (locked) report has been under way since `since` or later. */
  suspending(id: string, since: Date): Promise<boolean>;
  updateReport(report: ReportRecord): Promise<void>;
  hideMessage(messageId: string, at: Date): Promise<void>;
  /** The review hidden now; undefined when missing or hidden already. */
  hideReview(sessionId: string, at: Date): Promise<PublicReviewRecord | undefined>;
  /** False when the session already has a dispute. */
  insertDispute(dispute: DisputeRecord): Promise<boolean>;
  lockDispute(id: string): Promise<DisputeRecord | undefined>;
  updateDispute(dispute: DisputeRecord): Promise<void>;
  /** False when the review already has a reply (or is missing). */
  setReply(sessionId: string, reply: string, at: Date): Promise<boolean>;
  /** False when the session's user was already rated. */
  insertUserRating(rating: UserRatingRecord): Promise<boolean>;
}

export interface SafetyStore {
  transaction<T>(work: (tx: SafetyTx) => Promise<T>): Promise<T>;
  listBlocks(
    blockerId: string,
    after: { at: Date; id: string } | undefined,
    limit: number,
  ): Promise<BlockRecord[]>;
  getMessage(messageId: string): Promise<MessageRecord | undefined>;
  findReport(reporterId: string, requestId: string): Promise<ReportRecord | undefined>;
  getReport(id: string): Promise<ReportRecord | undefined>;
  listReports(
    filter: { status: ReportStatus; source?: ReportSource; afterId?: string },
    limit: number,
  ): Promise<ReportRecord[]>;
  /** The session's participants' connection changes, in time order. */
  presenceOf(sessionId: string): Promise<PresenceChange[]>;
  /** Every message's sender and time, in order (at most `limit`). */
  messageTrace(sessionId: string, limit: number): Promise<Array<{ senderId: string; sentAt: Date }>>;
  getDispute(id: string): Promise<DisputeRecord | undefined>;
  /**
   * Marks a suspension for an open report as being made by `by` at `at`, unless another's since
   * `lapsedBefore` or later is (`by`'s own is renewed): false when it is not theirs to make now.
   */
  claimSuspension(id: string, by: string, at: Date, lapsedBefore: Date): Promise<boolean>;
  /** Gives up `by`'s claim made at `at` (auth refused the suspension); anyone else's stays. */
  releaseSuspension(id: string, by: string, at: Date): Promise<void>;
  /**
   * Marks `decision` (with its refund's amount, undefined for all) as the one being made on an
   * open dispute, unless another is: `claimed` when it is this one's (a retry of the same
   * decision and amount claims it again), else the one being made, if any.
   */
  claimDecision(
    id: string,
    decision: DisputeDecision,
    amountMinor: bigint | undefined,
  ): Promise<{ claimed: boolean; held?: { decision: string; amountMinor: bigint | null } }>;
  /** Gives up a claimed decision whose refund billing refused: another may be made. */
  releaseDecision(id: string, decision: DisputeDecision): Promise<void>;
  disputeOfSession(sessionId: string): Promise<DisputeRecord | undefined>;
  listDisputes(filter: { status: DisputeStatus; afterId?: string }, limit: number): Promise<DisputeRecord[]>;
  getPublicReview(sessionId: string): Promise<PublicReviewRecord | undefined>;
  listExpertReviews(
    expertId: string,
    filter: { rating?: number; before?: { at: Date; id: string } },
    limit: number,
  ): Promise<PublicReviewRecord[]>;
  userRatingSummary(userId: string): Promise<{ average: number; count: number }>;
  /** Takes up to `limit` experts whose public figures changed (they are no longer marked). */
  takeDirtyExperts(limit: number): Promise<string[]>;
  /** Marks experts again (their figures could not be sent). */
  markDirty(expertIds: string[]): Promise<void>;
  /** The counters kept for an expert (month: its first day, `YYYY-MM-01`, UTC). */
  expertFigures(expertId: string, month: string): Promise<ExpertFigures>;
}

/** What the metrics tables hold for one expert and month. */
export interface ExpertFigures {
  requests: number;
  completed: number;
  ratingSum: number;
  ratingCount: number;
  clients: number;
  repeatClients: number;
  lastActiveAt: Date | null;
  medianFirstResponseSeconds: number | null;
}

/** The user service's copy of blocks and its rating summaries, as the safety outbox relay sees them. */
export interface SafetyMirror {
  /** Idempotent: a block set or lifted, a rating taken out of a summary. */
  apply(item: SafetySync): Promise<void>;
  /** An expert's public figures as of a moment (the newest wins there). */
  publishMetrics(metrics: PublicExpertMetrics): Promise<void>;
}

/** What the expert profile shows of the dashboard. */
export interface PublicExpertMetrics {
  expertId: string;
  /** "YYYY-MM" (UTC). */
  month: string;
  completedSessions: number;
  repeatClientRate: number;
  medianFirstResponseSeconds: number | null;
  asOf: Date;
}

/** Auth's back office as the moderation queue uses it. */
export interface BackOffice {
  /**
   * Suspends a person on behalf of the staff member whose token is given: auth applies its
   * permission matrix (moderators may not suspend: PERMISSION_DENIED, and the attempt is
   * audited) and records the suspension with them as the actor.
   */
  suspend(userId: string, reason: string, staffToken: string): Promise<void>;
}
