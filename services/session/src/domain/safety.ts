import type { Principal } from "@parley/kit/auth";
import {
  AppError,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isAppError,
  notFound,
  permissionDenied,
} from "@parley/kit/errors";
import { isUuid, newId, requireUuid } from "@parley/kit/ids";
import { MAX_REASON_LENGTH, requireReason } from "@parley/kit/staff-reason";
import { type Core, LIMITS, requireText, userIdOf } from "./core";
import { computeEvidence, type DisputeRules, proposeOutcome } from "./dispute-rules";
import type { NotificationIntent, SessionRecord } from "./model";
import type {
  DisputeDecision,
  DisputeReason,
  DisputeRecord,
  DisputeStatus,
  ReportReason,
  ReportRecord,
  ReportResolution,
  ReportSource,
  ReportStatus,
  ReportTargetKind,
} from "./safety-model";
import type { BackOffice, SafetyMirror, SafetyStore } from "./safety-ports";
import { isModerator, isSupport, requireModerator, requireSupport } from "./staff";

/** How long a report's suspension under way holds off other resolutions (its answer lost). */
const SUSPENSION_CLAIM_MS = 10 * 60_000;

/** At most this many messages go into a dispute's evidence (who sent what when). */
const EVIDENCE_MESSAGES = 2_000;
/** A reporter's or disputing person's own words (a staff member's note is a reason: the kit's rule). */
const NOTE_CHARS = 2_000;

export interface SafetyDeps {
  core: Core;
  store: SafetyStore;
  rules: DisputeRules;
  /** Ends or cancels whatever is open between two people (lifecycle). */
  closeBetween(a: string, b: string): Promise<void>;
  /** Auth's back office (suspensions); absent: a report cannot be resolved by suspending. */
  backOffice?: BackOffice;
  /** Where experts' public figures go (the user service's expert profile); absent: nowhere. */
  mirror?: Pick<SafetyMirror, "publishMetrics">;
}

export type Safety = ReturnType<typeof createSafety>;

/** Blocks, reports and moderation, disputes, readable reviews and the expert's rating of users. */
export function createSafety(deps: SafetyDeps) {
  const { core, store, rules } = deps;
  const { now } = core;

  const resolvedNotice = (report: ReportRecord): NotificationIntent[] =>
    report.reporterId
      ? [
          {
            id: `report:${report.id}:resolved`,
            userId: report.reporterId,
            kind: "report_resolved",
            data: {
              report_id: report.id,
              target_kind: report.targetKind,
              resolution: report.resolution ?? "",
            },
          },
        ]
      : [];

  async function hideReviewIn(sessionId: string) {
    return store.transaction(async (tx) => {
      const hidden = await tx.hideReview(sessionId, now());
      if (hidden) await tx.enqueueSync([{ kind: "retract_rating", expertId: hidden.expertId, sessionId }]);
      return hidden;
    });
  }

  /** Whom a report is about, checked against what the reporter may see. */
  async function subjectOf(
    reporterId: string,
    kind: ReportTargetKind,
    targetId: string,
  ): Promise<{ subjectUserId: string; sessionId: string | null }> {
    const missing = () => notFound("REPORT_TARGET_NOT_FOUND", `no such ${kind} you can report`);
    const participant = (session: SessionRecord | undefined) =>
      !!session && (session.userId === reporterId || session.expertId === reporterId);
    switch (kind) {
      case "person":
        if (targetId === reporterId) throw invalidArgument("VALIDATION_FAILED", "you cannot report yourself");
        return { subjectUserId: targetId, sessionId: null };
      case "message": {
        const message = await store.getMessage(targetId);
        const session = message && (await core.store.getSession(message.sessionId));
        // A deleted person's messages name no one any more (ForgetAuthor): nobody to report.
        if (!message || !participant(session) || !isUuid(message.senderId)) throw missing();
        if (message.senderId === reporterId)
          throw invalidArgument("VALIDATION_FAILED", "you cannot report your own message");
        return { subjectUserId: message.senderId, sessionId: message.sessionId };
      }
      case "session": {
        const session = await core.store.getSession(targetId);
        if (!session || !participant(session)) throw missing();
        return {
          subjectUserId: session.userId === reporterId ? session.expertId : session.userId,
          sessionId: session.id,
        };
      }
      case "review": {
        const review = await store.getPublicReview(targetId);
        if (!review || review.hiddenAt) throw missing();
        return { subjectUserId: review.userId, sessionId: review.sessionId };
      }
    }
  }

  const statusAfter = (decision: DisputeDecision): DisputeStatus =>
    decision === "reject" ? "rejected" : decision === "full_refund" ? "refunded_full" : "refunded_partial";

  return {
    // ---- blocks ----

    async blockPerson(principal: Principal, blockedId: string) {
      const blockerId = userIdOf(principal);
      requireUuid(blockedId, "user_id");
      if (blockedId === blockerId) throw invalidArgument("VALIDATION_FAILED", "you cannot block yourself");
      const block = { blockerId, blockedId, createdAt: now() };
      await store.transaction(async (tx) => {
        if (await tx.insertBlock(block))
          await tx.enqueueSync([
            { kind: "block", blockerId, blockedId, blocked: true, changedAt: block.createdAt.toISOString() },
          ]);
      });
      // After the block is committed no new request or message between them gets through;
      // whatever was already open between them is closed now.
      await deps.closeBetween(blockerId, blockedId);
      return block;
    },

    async unblockPerson(principal: Principal, blockedId: string) {
      const blockerId = userIdOf(principal);
      requireUuid(blockedId, "user_id");
      await store.transaction(async (tx) => {
        if (await tx.deleteBlock(blockerId, blockedId))
          await tx.enqueueSync([
            { kind: "block", blockerId, blockedId, blocked: false, changedAt: now().toISOString() },
          ]);
      });
    },

    listBlocks: (principal: Principal, after: { at: Date; id: string } | undefined, limit: number) =>
      store.listBlocks(userIdOf(principal), after, limit),

    // ---- reports and moderation ----

    async fileReport(
      principal: Principal,
      input: {
        targetKind: ReportTargetKind | undefined;
        targetId: string;
        reason: ReportReason | undefined;
        note: string;
        requestId: string;
      },
    ): Promise<ReportRecord> {
      const reporterId = userIdOf(principal);
      if (!input.targetKind) throw invalidArgument("VALIDATION_FAILED", "target_kind is required");
      if (!input.reason) throw invalidArgument("VALIDATION_FAILED", "reason is required");
      requireUuid(input.targetId, "target_id");
      requireText(input.requestId, "request_id", LIMITS.requestIdChars);
      requireText(input.note, "note", NOTE_CHARS, false);
      const existing = await store.findReport(reporterId, input.requestId);
      if (existing) return existing;
      const { subjectUserId, sessionId } = await subjectOf(reporterId, input.targetKind, input.targetId);
      const report: ReportRecord = {
        id: newId(),
        reporterId,
        requestId: input.requestId,
        targetKind: input.targetKind,
        targetId: input.targetId,
        subjectUserId,
        sessionId,
        reason: input.reason,
        note: input.note,
        source: "person",
        status: "open",
        resolution: null,
        resolutionNote: null,
        resolvedBy: null,
        createdAt: now(),
        resolvedAt: null,
      };
      const inserted = await store.transaction((tx) => tx.insertReport(report));
      return inserted ? report : (await store.findReport(reporterId, input.requestId))!;
    },

    async listReports(
      principal: Principal,
      filter: { status?: ReportStatus; source?: ReportSource; afterId?: string },
      limit: number,
    ) {
      requireModerator(principal);
      const reports = await store.listReports({ ...filter, status: filter.status ?? "open" }, limit);
      // Moderators read a reported message as it was stored, hidden or not.
      return Promise.all(
        reports.map(async (report) => ({
          report,
          content:
            report.targetKind === "message" ? ((await store.getMessage(report.targetId))?.text ?? "") : "",
        })),
      );
    },

    async resolveReport(
      principal: Principal,
      input: {
        reportId: string;
        resolution: ReportResolution | undefined;
        note: string;
        /** The caller's own token: a suspension is the back office's, made as them. */
        staffToken?: string;
      },
    ): Promise<ReportRecord> {
      const moderatorId = requireModerator(principal);
      requireUuid(input.reportId, "report_id");
      if (!input.resolution) throw invalidArgument("VALIDATION_FAILED", "resolution is required");
      const note = requireReason(input.note, "note");
      if (input.resolution === "suspended") {
        if (!deps.backOffice || !input.staffToken)
          throw new AppError(
            "unimplemented",
            "SUSPEND_NOT_AVAILABLE",
            "suspensions are not reachable from here",
          );
        const report = await store.getReport(input.reportId);
        if (!report) throw notFound("REPORT_NOT_FOUND", "no such report");
        // Claimed first: no other resolution is recorded while the person is being suspended.
        const at = now();
        const lapsedBefore = new Date(at.getTime() - SUSPENSION_CLAIM_MS);
        if (report.status === "open") {
          if (await store.claimSuspension(report.id, moderatorId, at, lapsedBefore)) {
            try {
              // Auth's permission matrix decides (admins and support suspend; a moderator is
              // refused and the attempt audited), and records the suspension with the caller as
              // its actor. The reason names the report, within the staff-reason bound.
              await deps.backOffice.suspend(
                report.subjectUserId,
                `report ${report.id}: ${note}`.slice(0, MAX_REASON_LENGTH),
                input.staffToken,
              );
            } catch (error) {
              // Refused (not this caller's to do, say): other resolutions may be made again.
              if (isAppError(error) && error.kind !== "unavailable" && error.kind !== "deadline_exceeded")
                await store.releaseSuspension(report.id, moderatorId, at);
              throw error;
            }
          } else if ((await store.getReport(report.id))?.status === "open")
            throw failedPrecondition("REPORT_BEING_RESOLVED", "a suspension for this report is being made");
        }
      }
      return store.transaction(async (tx) => {
        const report = await tx.lockReport(input.reportId);
        if (!report) throw notFound("REPORT_NOT_FOUND", "no such report");
        if (report.status === "resolved") {
          if (report.resolution === input.resolution) return report;
          throw failedPrecondition("REPORT_RESOLVED", `this report was already ${report.resolution}`);
        }
        // A claim whose suspension never answered lapses, for the report not to be stuck.
        const lapsed = new Date(now().getTime() - SUSPENSION_CLAIM_MS);
        if (input.resolution !== "suspended" && (await tx.suspending(report.id, lapsed)))
          throw failedPrecondition("REPORT_BEING_RESOLVED", "a suspension for this report is being made");
        const at = now();
        const notices: NotificationIntent[] = [];
        if (input.resolution === "content_hidden") {
          if (report.targetKind === "message") await tx.hideMessage(report.targetId, at);
          else if (report.targetKind === "review") {
            const hidden = await tx.hideReview(report.targetId, at);
            if (hidden)
              await tx.enqueueSync([
                { kind: "retract_rating", expertId: hidden.expertId, sessionId: report.targetId },
              ]);
          } else
            throw failedPrecondition(
              "NOTHING_TO_HIDE",
              `a reported ${report.targetKind} has no content to hide`,
            );
        }
        if (input.resolution === "warned")
          notices.push({
            id: `report:${report.id}:warning`,
            userId: report.subjectUserId,
            kind: "moderation_warning",
            data: { report_id: report.id, reason: report.reason, note },
          });
        const resolved: ReportRecord = {
          ...report,
          status: "resolved",
          resolution: input.resolution!,
          resolutionNote: note,
          resolvedBy: moderatorId,
          resolvedAt: at,
        };
        await tx.updateReport(resolved);
        await tx.enqueueNotifications([...notices, ...resolvedNotice(resolved)]);
        return resolved;
      });
    },

    // ---- disputes ----

    async openDispute(
      principal: Principal,
      input: { sessionId: string; reason: DisputeReason | undefined; note: string },
    ): Promise<DisputeRecord> {
      const { session, role } = await core.visible(principal, input.sessionId);
      if (role !== "user")
        throw permissionDenied("NOT_SESSION_USER", "only the session's user may dispute it");
      if (!input.reason) throw invalidArgument("VALIDATION_FAILED", "reason is required");
      requireText(input.note, "note", NOTE_CHARS, false);
      const existing = await store.disputeOfSession(session.id);
      if (existing) return existing;
      if (session.status !== "ended" || !session.endedAt)
        throw failedPrecondition("SESSION_NOT_ENDED", "only a session that ran and ended can be disputed");
      const at = now();
      const closesAt = new Date(session.endedAt.getTime() + rules.windowHours * 3600_000);
      if (at > closesAt)
        throw failedPrecondition(
          "DISPUTE_WINDOW_CLOSED",
          `disputes are taken within ${rules.windowHours} h of the end`,
          {
            metadata: { closed_at: closesAt.toISOString() },
          },
        );
      const evidence = computeEvidence(
        session,
        await store.presenceOf(session.id),
        await store.messageTrace(session.id, EVIDENCE_MESSAGES),
        core.rules.pauseGraceSeconds,
      );
      const proposal = proposeOutcome(session, evidence, rules);
      const dispute: DisputeRecord = {
        id: newId(),
        sessionId: session.id,
        userId: session.userId,
        expertId: session.expertId,
        reason: input.reason,
        note: input.note,
        status: "open",
        evidence,
        proposedOutcome: proposal.outcome,
        proposedRule: proposal.rule,
        proposedRefundMinor: proposal.refundMinor,
        currency: session.currency,
        refundedMinor: null,
        refundId: null,
        resolutionNote: null,
        resolvedBy: null,
        createdAt: at,
        resolvedAt: null,
      };
      const inserted = await store.transaction(async (tx) => {
        if (!(await tx.insertDispute(dispute))) return false;
        await tx.enqueueNotifications([
          {
            id: `dispute:${dispute.id}:opened`,
            userId: dispute.userId,
            kind: "dispute_opened",
            data: {
              dispute_id: dispute.id,
              session_id: dispute.sessionId,
              // "review" reads as a word of its own in the templates: support decides.
              proposed_outcome:
                dispute.proposedOutcome === "review" ? "review_needed" : dispute.proposedOutcome,
            },
          },
        ]);
        return true;
      });
      return inserted ? dispute : (await store.disputeOfSession(session.id))!;
    },

    async getDispute(principal: Principal, sessionId: string) {
      await core.visible(principal, sessionId);
      const dispute = await store.disputeOfSession(sessionId);
      if (!dispute) throw notFound("DISPUTE_NOT_FOUND", "this session has no dispute");
      return dispute;
    },

    async listDisputes(
      principal: Principal,
      filter: { status?: DisputeStatus; afterId?: string },
      limit: number,
    ) {
      requireSupport(principal);
      return store.listDisputes({ ...filter, status: filter.status ?? "open" }, limit);
    },

    /**
     * Support's decision. The refund goes through billing first, keyed by the dispute (so a
     * retry after any failure refunds once, and a second decision with another amount is
     * refused by billing), then the dispute records it and the person is told.
     */
    async resolveDispute(
      principal: Principal,
      input: {
        disputeId: string;
        decision: DisputeDecision | undefined;
        amount?: { minor: bigint; currency: string };
        note: string;
      },
    ): Promise<DisputeRecord> {
      const supportId = requireSupport(principal);
      requireUuid(input.disputeId, "dispute_id");
      if (!input.decision) throw invalidArgument("VALIDATION_FAILED", "decision is required");
      const note = requireReason(input.note, "note");
      if (input.decision === "partial_refund" && (!input.amount || input.amount.minor <= 0n))
        throw invalidArgument("VALIDATION_FAILED", "a partial refund needs a positive amount");
      const dispute = await store.getDispute(input.disputeId);
      if (!dispute) throw notFound("DISPUTE_NOT_FOUND", "no such dispute");
      const status = statusAfter(input.decision);
      const settled = (current: DisputeRecord) => {
        if (current.status === status) return current;
        throw failedPrecondition("DISPUTE_RESOLVED", `this dispute was already resolved (${current.status})`);
      };
      if (dispute.status !== "open") return settled(dispute);
      // The decision is claimed before any money moves: two people deciding at once cannot have
      // one refund while the other's rejection is recorded.
      const amount = input.decision === "partial_refund" ? input.amount!.minor : undefined;
      const claim = await store.claimDecision(dispute.id, input.decision, amount);
      if (!claim.claimed) {
        const current = (await store.getDispute(dispute.id))!;
        if (current.status !== "open") return settled(current);
        throw failedPrecondition("DISPUTE_BEING_DECIDED", "another decision on this dispute is being made", {
          metadata: {
            decision: claim.held?.decision ?? "",
            ...(claim.held?.amountMinor != null ? { amount_minor: claim.held.amountMinor.toString() } : {}),
          },
        });
      }
      let refund = { refundId: null as string | null, amountMinor: 0n };
      if (input.decision !== "reject") {
        try {
          const made = await core.billing.refund({
            sessionId: dispute.sessionId,
            amount: input.decision === "partial_refund" ? input.amount : undefined,
            // The same body on every retry (support's words may differ; the dispute keeps them):
            // billing's key takes the body, and a retry after a lost answer must replay its refund.
            note: `dispute ${dispute.id}`,
            requestId: `dispute:${dispute.id}`,
          });
          refund = { refundId: made.refundId, amountMinor: made.amountMinor };
        } catch (error) {
          // Nothing was ever charged: nothing to give back, and the dispute still closes.
          if (!isAppError(error, "SESSION_CHARGES_NOT_FOUND")) {
            // Refused by billing (nothing refunded): another decision may be made. Unanswered, or
            // ALREADY_EXISTS (a refund under this dispute's key exists): this one stays claimed,
            // for a retry of the same decision to record.
            if (
              isAppError(error) &&
              (error.kind === "failed_precondition" || error.kind === "invalid_argument")
            )
              await store.releaseDecision(dispute.id, input.decision);
            throw error;
          }
        }
      }
      return store.transaction(async (tx) => {
        const locked = (await tx.lockDispute(dispute.id))!;
        if (locked.status !== "open") return settled(locked);
        const resolved: DisputeRecord = {
          ...locked,
          status,
          refundedMinor: refund.amountMinor,
          refundId: refund.refundId,
          resolutionNote: note,
          resolvedBy: supportId,
          resolvedAt: now(),
        };
        await tx.updateDispute(resolved);
        await tx.enqueueNotifications([
          {
            id: `dispute:${dispute.id}:resolved`,
            userId: dispute.userId,
            kind: "dispute_resolved",
            data: {
              dispute_id: dispute.id,
              session_id: dispute.sessionId,
              status,
              amount_minor: refund.amountMinor.toString(),
              currency: dispute.currency,
            },
          },
        ]);
        return resolved;
      });
    },

    // ---- reviews ----

    async listExpertReviews(
      expertId: string,
      filter: { rating?: number; before?: { at: Date; id: string } },
      limit: number,
    ) {
      requireUuid(expertId, "expert_id");
      if (filter.rating !== undefined && (filter.rating < 1 || filter.rating > 5))
        throw invalidArgument("VALIDATION_FAILED", "rating must be 1 to 5, or 0 for all");
      return store.listExpertReviews(expertId, filter, limit);
    },

    async replyToReview(principal: Principal, sessionId: string, text: string) {
      const { role } = await core.visible(principal, sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert replies");
      requireText(text, "text", LIMITS.reviewChars);
      const review = await store.getPublicReview(sessionId);
      if (!review || review.hiddenAt) throw notFound("REVIEW_NOT_FOUND", "this session has no review");
      const at = now();
      const set = await store.transaction((tx) => tx.setReply(sessionId, text, at));
      if (!set) throw alreadyExists("REPLY_EXISTS", "you already replied to this review");
      return { ...review, reply: text, repliedAt: at };
    },

    async hideReview(principal: Principal, sessionId: string, note: string) {
      requireModerator(principal);
      requireUuid(sessionId, "session_id");
      requireReason(note, "note");
      const review = await store.getPublicReview(sessionId);
      if (!review) throw notFound("REVIEW_NOT_FOUND", "this session has no review");
      await hideReviewIn(sessionId);
      return review;
    },

    async rateUser(principal: Principal, input: { sessionId: string; rating: number; text: string }) {
      const { session, role } = await core.visible(principal, input.sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert rates its user");
      if (session.status !== "ended")
        throw failedPrecondition("SESSION_NOT_ENDED", "rate the user once the session has ended");
      if (!Number.isInteger(input.rating) || input.rating < 1 || input.rating > 5)
        throw invalidArgument("VALIDATION_FAILED", "rating must be 1 to 5");
      requireText(input.text, "text", LIMITS.reviewChars, false);
      const inserted = await store.transaction((tx) =>
        tx.insertUserRating({
          sessionId: session.id,
          userId: session.userId,
          expertId: session.expertId,
          rating: input.rating,
          text: input.text,
          createdAt: now(),
        }),
      );
      if (!inserted) throw alreadyExists("USER_RATING_EXISTS", "you already rated this user");
    },

    /**
     * Sends the public figures of experts whose sessions ended since the last pass to the expert
     * profile; those that could not be sent are marked again. Returns how many were taken.
     */
    async publishMetrics(limit: number): Promise<number> {
      if (!deps.mirror) return 0;
      const experts = await store.takeDirtyExperts(limit);
      const failed: string[] = [];
      for (const expertId of experts) {
        const at = now();
        const month = at.toISOString().slice(0, 7);
        try {
          const f = await store.expertFigures(expertId, `${month}-01`);
          await deps.mirror.publishMetrics({
            expertId,
            month,
            completedSessions: f.completed,
            repeatClientRate: f.clients > 0 ? f.repeatClients / f.clients : 0,
            medianFirstResponseSeconds: f.medianFirstResponseSeconds,
            asOf: at,
          });
        } catch (error) {
          core.log.warn({ err: error, expertId }, "publishing an expert's figures failed; retrying");
          failed.push(expertId);
        }
      }
      await store.markDirty(failed);
      return experts.length;
    },

    /** The expert's figures this calendar month (UTC), read from counters kept as things happen. */
    async expertDashboard(principal: Principal, expertId: string) {
      requireUuid(expertId, "expert_id");
      const callerId = userIdOf(principal);
      if (callerId !== expertId && !isModerator(principal) && !isSupport(principal))
        throw permissionDenied("PERMISSION_DENIED", "an expert's dashboard is theirs (and staff's)");
      const month = `${now().toISOString().slice(0, 7)}-01`;
      const f = await store.expertFigures(expertId, month);
      return {
        sessionsThisMonth: f.requests,
        completedThisMonth: f.completed,
        ratingAverageThisMonth: f.ratingCount > 0 ? f.ratingSum / f.ratingCount : 0,
        ratingsThisMonth: f.ratingCount,
        repeatClientRate: f.clients > 0 ? f.repeatClients / f.clients : 0,
        medianFirstResponseSeconds: f.medianFirstResponseSeconds,
        lastActiveAt: f.lastActiveAt,
      };
    },

    async getUserRating(principal: Principal, userId: string) {
      requireUuid(userId, "user_id");
      if (
        principal.kind !== "user" ||
        (principal.role !== "expert" && !isModerator(principal) && !isSupport(principal))
      )
        throw permissionDenied("PERMISSION_DENIED", "users' ratings are for experts and staff");
      return store.userRatingSummary(userId);
    },
  };
}
