import { enumMapping } from "@parley/kit/enums";
import {
  type Dispute,
  DisputeDecision,
  DisputeReason,
  DisputeStatus,
  ProposedOutcome,
  type PublicReview,
  type Report,
  ReportReason,
  ReportResolution,
  ReportSource,
  ReportStatus,
  ReportTargetKind,
} from "@parley/proto/parley/session/v1/safety";
import type * as model from "../domain/safety-model";
import { endReasonMessage } from "./mapping";

const TARGET = enumMapping<model.ReportTargetKind, ReportTargetKind>({
  person: ReportTargetKind.REPORT_TARGET_KIND_PERSON,
  message: ReportTargetKind.REPORT_TARGET_KIND_MESSAGE,
  session: ReportTargetKind.REPORT_TARGET_KIND_SESSION,
  review: ReportTargetKind.REPORT_TARGET_KIND_REVIEW,
});
const REASON = enumMapping<model.ReportReason, ReportReason>({
  harassment: ReportReason.REPORT_REASON_HARASSMENT,
  spam: ReportReason.REPORT_REASON_SPAM,
  off_platform: ReportReason.REPORT_REASON_OFF_PLATFORM,
  fraud: ReportReason.REPORT_REASON_FRAUD,
  inappropriate: ReportReason.REPORT_REASON_INAPPROPRIATE,
  other: ReportReason.REPORT_REASON_OTHER,
});
const SOURCE = enumMapping<model.ReportSource, ReportSource>({
  person: ReportSource.REPORT_SOURCE_PERSON,
  contact_filter: ReportSource.REPORT_SOURCE_CONTACT_FILTER,
});
const REPORT_STATUS = enumMapping<model.ReportStatus, ReportStatus>({
  open: ReportStatus.REPORT_STATUS_OPEN,
  resolved: ReportStatus.REPORT_STATUS_RESOLVED,
});
const RESOLUTION = enumMapping<model.ReportResolution, ReportResolution>({
  dismissed: ReportResolution.REPORT_RESOLUTION_DISMISSED,
  warned: ReportResolution.REPORT_RESOLUTION_WARNED,
  content_hidden: ReportResolution.REPORT_RESOLUTION_CONTENT_HIDDEN,
  suspended: ReportResolution.REPORT_RESOLUTION_SUSPENDED,
});
const DISPUTE_REASON = enumMapping<model.DisputeReason, DisputeReason>({
  expert_unresponsive: DisputeReason.DISPUTE_REASON_EXPERT_UNRESPONSIVE,
  expert_went_offline: DisputeReason.DISPUTE_REASON_EXPERT_WENT_OFFLINE,
  technical_issue: DisputeReason.DISPUTE_REASON_TECHNICAL_ISSUE,
  rate_mismatch: DisputeReason.DISPUTE_REASON_RATE_MISMATCH,
  duplicate_charge: DisputeReason.DISPUTE_REASON_DUPLICATE_CHARGE,
  other: DisputeReason.DISPUTE_REASON_OTHER,
});
const DISPUTE_STATUS = enumMapping<model.DisputeStatus, DisputeStatus>({
  open: DisputeStatus.DISPUTE_STATUS_OPEN,
  refunded_full: DisputeStatus.DISPUTE_STATUS_REFUNDED_FULL,
  refunded_partial: DisputeStatus.DISPUTE_STATUS_REFUNDED_PARTIAL,
  rejected: DisputeStatus.DISPUTE_STATUS_REJECTED,
});
const OUTCOME = enumMapping<model.ProposedOutcome, ProposedOutcome>({
  review: ProposedOutcome.PROPOSED_OUTCOME_REVIEW,
  full_refund: ProposedOutcome.PROPOSED_OUTCOME_FULL_REFUND,
  partial_refund: ProposedOutcome.PROPOSED_OUTCOME_PARTIAL_REFUND,
});
const DECISION = enumMapping<model.DisputeDecision, DisputeDecision>({
  full_refund: DisputeDecision.DISPUTE_DECISION_FULL_REFUND,
  partial_refund: DisputeDecision.DISPUTE_DECISION_PARTIAL_REFUND,
  reject: DisputeDecision.DISPUTE_DECISION_REJECT,
});

// Unset is undefined here: the domain says which are required.
export const toTargetKind = (v: ReportTargetKind) => TARGET.toOptional(v, "target_kind");
export const toReportReason = (v: ReportReason) => REASON.toOptional(v, "reason");
export const toReportSource = (v: ReportSource) => SOURCE.toOptional(v, "source");
export const toReportStatus = (v: ReportStatus) => REPORT_STATUS.toOptional(v, "status");
export const toResolution = (v: ReportResolution) => RESOLUTION.toOptional(v, "resolution");
export const toDisputeReason = (v: DisputeReason) => DISPUTE_REASON.toOptional(v, "reason");
export const toDisputeStatus = (v: DisputeStatus) => DISPUTE_STATUS.toOptional(v, "status");
export const toDecision = (v: DisputeDecision) => DECISION.toOptional(v, "decision");

const undef = (date: Date | null) => date ?? undefined;

export function reportMessage(r: model.ReportRecord, content = ""): Report {
  return {
    reportId: r.id,
    reporterId: r.reporterId ?? "",
    targetKind: TARGET.toProto(r.targetKind),
    targetId: r.targetId,
    subjectUserId: r.subjectUserId,
    sessionId: r.sessionId ?? "",
    reason: REASON.toProto(r.reason),
    note: r.note,
    source: SOURCE.toProto(r.source),
    status: REPORT_STATUS.toProto(r.status),
    resolution: r.resolution
      ? RESOLUTION.toProto(r.resolution)
      : ReportResolution.REPORT_RESOLUTION_UNSPECIFIED,
    resolutionNote: r.resolutionNote ?? "",
    resolvedBy: r.resolvedBy ?? "",
    createdAt: r.createdAt,
    resolvedAt: undef(r.resolvedAt),
    content,
  };
}

export function disputeMessage(d: model.DisputeRecord): Dispute {
  const e = d.evidence;
  const money = (amountMinor: bigint) => ({ amountMinor, currency: d.currency });
  return {
    disputeId: d.id,
    sessionId: d.sessionId,
    userId: d.userId,
    expertId: d.expertId,
    reason: DISPUTE_REASON.toProto(d.reason),
    note: d.note,
    status: DISPUTE_STATUS.toProto(d.status),
    evidence: {
      minutesCharged: BigInt(e.minutesCharged),
      rate: money(e.rateMinor),
      amountCharged: money(e.amountChargedMinor),
      startedAt: undef(e.startedAt),
      endedAt: undef(e.endedAt),
      endReason: endReasonMessage(e.endReason),
      presence: e.presence.map((p) => ({ userId: p.userId, online: p.online, at: p.at })),
      pauses: e.pauses.map((p) => ({ from: p.from, to: undef(p.to) })),
      messages: e.messages.map((m) => ({ senderId: m.senderId, sentAt: m.sentAt })),
      expertFirstResponseSeconds:
        e.expertFirstResponseSeconds === null ? undefined : BigInt(e.expertFirstResponseSeconds),
      userMessages: e.userMessages,
      expertMessages: e.expertMessages,
    },
    proposedOutcome: OUTCOME.toProto(d.proposedOutcome),
    proposedRule: d.proposedRule,
    proposedRefund: money(d.proposedRefundMinor),
    refunded: d.refundedMinor === null ? undefined : money(d.refundedMinor),
    refundId: d.refundId ?? "",
    resolutionNote: d.resolutionNote ?? "",
    resolvedBy: d.resolvedBy ?? "",
    createdAt: d.createdAt,
    resolvedAt: undef(d.resolvedAt),
  };
}

export function publicReviewMessage(r: model.PublicReviewRecord): PublicReview {
  return {
    sessionId: r.sessionId,
    expertId: r.expertId,
    userId: r.userId,
    rating: r.rating,
    text: r.text,
    createdAt: r.createdAt,
    reply: r.reply ?? "",
    repliedAt: undef(r.repliedAt),
  };
}
