import type { Principal } from "@parley/kit/auth";
import type { Handlers } from "@parley/kit/grpc";
import { requireUuid } from "@parley/kit/ids";
import { cursors, type Paging } from "@parley/kit/paging";
import type { SafetyServiceService } from "@parley/proto/parley/session/v1/safety";
import type { Safety } from "../domain/safety";
import {
  disputeMessage,
  publicReviewMessage,
  reportMessage,
  toDecision,
  toDisputeReason,
  toDisputeStatus,
  toReportReason,
  toReportSource,
  toReportStatus,
  toResolution,
  toTargetKind,
} from "./safety-mapping";

/** Who is asking, as part of a page token's query: a token only opens the caller's own lists. */
const callerOf = (principal: Principal) => (principal.kind === "user" ? principal.userId : "");

export function safetyHandlers(safety: Safety, paging: Paging): Handlers<typeof SafetyServiceService> {
  return {
    async blockPerson(request, ctx) {
      const block = await safety.blockPerson(ctx.principal, request.userId);
      return { block: { userId: block.blockedId, createdAt: block.createdAt } };
    },
    async unblockPerson(request, ctx) {
      await safety.unblockPerson(ctx.principal, request.userId);
      return {};
    },
    async listBlocks(request, ctx) {
      const page = paging.open(request, {
        query: ["session.ListBlocks", callerOf(ctx.principal)],
        sizes: { default: 20, max: 100 },
        cursor: cursors.timeAndId,
      });
      const blocks = await safety.listBlocks(ctx.principal, page.after, page.size);
      const last = blocks.at(-1);
      return {
        blocks: blocks.map((b) => ({ userId: b.blockedId, createdAt: b.createdAt })),
        nextPageToken: page.next(
          blocks.length === page.size && last ? { at: last.createdAt, id: last.blockedId } : undefined,
        ),
      };
    },
    async fileReport(request, ctx) {
      const report = await safety.fileReport(ctx.principal, {
        targetKind: toTargetKind(request.targetKind),
        targetId: request.targetId,
        reason: toReportReason(request.reason),
        note: request.note,
        requestId: request.requestId,
      });
      return { report: reportMessage(report) };
    },
    async listReports(request, ctx) {
      const filter = { status: toReportStatus(request.status), source: toReportSource(request.source) };
      const page = paging.open(request, {
        query: ["session.ListReports", filter],
        sizes: { default: 20, max: 100 },
        cursor: cursors.uuid,
      });
      const list = await safety.listReports(ctx.principal, { ...filter, afterId: page.after }, page.size);
      return {
        reports: list.map(({ report, content }) => reportMessage(report, content)),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.report.id : undefined),
      };
    },
    async resolveReport(request, ctx) {
      const authorization = String(ctx.metadata.get("authorization")[0] ?? "");
      const report = await safety.resolveReport(ctx.principal, {
        reportId: request.reportId,
        resolution: toResolution(request.resolution),
        note: request.note,
        staffToken: /^bearer /i.test(authorization) ? authorization.slice(7) : undefined,
      });
      return { report: reportMessage(report) };
    },
    async openDispute(request, ctx) {
      const dispute = await safety.openDispute(ctx.principal, {
        sessionId: requireUuid(request.sessionId, "session_id"),
        reason: toDisputeReason(request.reason),
        note: request.note,
      });
      return { dispute: disputeMessage(dispute) };
    },
    async getDispute(request, ctx) {
      return {
        dispute: disputeMessage(
          await safety.getDispute(ctx.principal, requireUuid(request.sessionId, "session_id")),
        ),
      };
    },
    async listDisputes(request, ctx) {
      const filter = { status: toDisputeStatus(request.status) };
      const page = paging.open(request, {
        query: ["session.ListDisputes", filter],
        sizes: { default: 20, max: 100 },
        cursor: cursors.uuid,
      });
      const list = await safety.listDisputes(ctx.principal, { ...filter, afterId: page.after }, page.size);
      return {
        disputes: list.map(disputeMessage),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.id : undefined),
      };
    },
    async resolveDispute(request, ctx) {
      const dispute = await safety.resolveDispute(ctx.principal, {
        disputeId: request.disputeId,
        decision: toDecision(request.decision),
        amount: request.amount
          ? { minor: request.amount.amountMinor, currency: request.amount.currency }
          : undefined,
        note: request.note,
      });
      return { dispute: disputeMessage(dispute) };
    },
    async listExpertReviews(request) {
      const expertId = requireUuid(request.expertId, "expert_id");
      const rating = request.rating === 0 ? undefined : request.rating;
      const page = paging.open(request, {
        query: ["session.ListExpertReviews", expertId, rating ?? 0],
        sizes: { default: 20, max: 100 },
        cursor: cursors.timeAndId,
      });
      const list = await safety.listExpertReviews(expertId, { rating, before: page.after }, page.size);
      const last = list.at(-1);
      return {
        reviews: list.map(publicReviewMessage),
        nextPageToken: page.next(
          list.length === page.size && last ? { at: last.createdAt, id: last.sessionId } : undefined,
        ),
      };
    },
    async replyToReview(request, ctx) {
      const review = await safety.replyToReview(
        ctx.principal,
        requireUuid(request.sessionId, "session_id"),
        request.text,
      );
      return { review: publicReviewMessage(review) };
    },
    async hideReview(request, ctx) {
      return {
        review: publicReviewMessage(await safety.hideReview(ctx.principal, request.sessionId, request.note)),
      };
    },
    async rateUser(request, ctx) {
      await safety.rateUser(ctx.principal, {
        sessionId: requireUuid(request.sessionId, "session_id"),
        rating: request.rating,
        text: request.text,
      });
      return {};
    },
    async getUserRating(request, ctx) {
      const summary = await safety.getUserRating(ctx.principal, request.userId);
      return { ratingAverage: summary.average, ratingCount: summary.count };
    },
    async getExpertDashboard(request, ctx) {
      const d = await safety.expertDashboard(ctx.principal, request.expertId);
      return {
        sessionsThisMonth: d.sessionsThisMonth,
        completedThisMonth: d.completedThisMonth,
        ratingAverageThisMonth: d.ratingAverageThisMonth,
        ratingsThisMonth: d.ratingsThisMonth,
        repeatClientRate: d.repeatClientRate,
        medianFirstResponseSeconds:
          d.medianFirstResponseSeconds === null ? undefined : BigInt(d.medianFirstResponseSeconds),
        lastActiveAt: d.lastActiveAt ?? undefined,
      };
    },
  };
}
