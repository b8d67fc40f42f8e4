import type { EndReason } from "./model";

/** Trust-and-safety records (SafetyService): blocks, reports, disputes, ratings of users. */

export interface BlockRecord {
  blockerId: string;
  blockedId: string;
  createdAt: Date;
}

export type ReportTargetKind = "person" | "message" | "session" | "review";
export type ReportReason = "harassment" | "spam" | "off_platform" | "fraud" | "inappropriate" | "other";
export type ReportSource = "person" | "contact_filter";
export type ReportStatus = "open" | "resolved";
export type ReportResolution = "dismissed" | "warned" | "content_hidden" | "suspended";

export interface ReportRecord {
  id: string;
  reporterId: string | null;
  requestId: string | null;
  targetKind: ReportTargetKind;
  targetId: string;
  subjectUserId: string;
  sessionId: string | null;
  reason: ReportReason;
  note: string;
  source: ReportSource;
  status: ReportStatus;
  resolution: ReportResolution | null;
  resolutionNote: string | null;
  resolvedBy: string | null;
  createdAt: Date;
  resolvedAt: Date | null;
}

export type DisputeReason =
  | "expert_unresponsive"
  | "expert_went_offline"
  | "technical_issue"
  | "rate_mismatch"
  | "duplicate_charge"
  | "other";
export type DisputeStatus = "open" | "refunded_full" | "refunded_partial" | "rejected";
export type ProposedOutcome = "review" | "full_refund" | "partial_refund";

export interface PresenceChange {
  userId: string;
  online: boolean;
  at: Date;
}

/** What Parley's own records say about a session, computed once when a dispute is opened. */
export interface DisputeEvidence {
  minutesCharged: number;
  rateMinor: bigint;
  currency: string;
  amountChargedMinor: bigint;
  startedAt: Date | null;
  endedAt: Date | null;
  endReason: EndReason | null;
  presence: PresenceChange[];
  pauses: Array<{ from: Date; to: Date | null }>;
  messages: Array<{ senderId: string; sentAt: Date }>;
  expertFirstResponseSeconds: number | null;
  userMessages: number;
  expertMessages: number;
}

export interface DisputeRecord {
  id: string;
  sessionId: string;
  userId: string;
  expertId: string;
  reason: DisputeReason;
  note: string;
  status: DisputeStatus;
  evidence: DisputeEvidence;
  proposedOutcome: ProposedOutcome;
  proposedRule: string;
  proposedRefundMinor: bigint;
  currency: string;
  refundedMinor: bigint | null;
  refundId: string | null;
  resolutionNote: string | null;
  resolvedBy: string | null;
  createdAt: Date;
  resolvedAt: Date | null;
}

export type DisputeDecision = "full_refund" | "partial_refund" | "reject";

/** A review as the public reads it. */
export interface PublicReviewRecord {
  sessionId: string;
  expertId: string;
  userId: string;
  rating: number;
  text: string;
  createdAt: Date;
  reply: string | null;
  repliedAt: Date | null;
  hiddenAt: Date | null;
}

export interface UserRatingRecord {
  sessionId: string;
  userId: string;
  expertId: string;
  rating: number;
  text: string;
  createdAt: Date;
}

/** What the user service mirrors, through the safety outbox. */
export type SafetySync =
  | { kind: "block"; blockerId: string; blockedId: string; blocked: boolean; changedAt: string }
  | { kind: "retract_rating"; expertId: string; sessionId: string };
