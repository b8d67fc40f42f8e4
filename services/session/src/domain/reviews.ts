import type { Principal } from "@parley/kit/auth";
import {
  alreadyExists,
  type ErrorKind,
  failedPrecondition,
  invalidArgument,
  isAppError,
  permissionDenied,
} from "@parley/kit/errors";
import { type Core, LIMITS, requireText } from "./core";
import type { ReviewRecord } from "./model";

export type Reviews = ReturnType<typeof reviews>;

/** Answers that asking again will not change. */
const REFUSED_FOR_GOOD = new Set<ErrorKind>(["not_found", "invalid_argument", "failed_precondition"]);

/** A user's review of an ended session, and the expert's rating summary in user. */
export function reviews(core: Core) {
  const { store, experts, now, log } = core;

  /**
   * Counts the rating in user; a failure is retried by the worker (user counts each session
   * once). One user refuses for good (the expert is gone, say) is not asked again: retried, it
   * would hold a place in every batch of the worker's.
   */
  async function reportRating(review: ReviewRecord) {
    const { sessionId } = review;
    try {
      await experts.updateRatingSummary(review.expertId, sessionId, review.rating);
    } catch (error) {
      if (!isAppError(error) || !REFUSED_FOR_GOOD.has(error.kind)) {
        log.warn({ err: error, sessionId }, "rating report failed; the worker retries");
        return;
      }
      log.warn({ err: error, sessionId }, "rating report refused; not asked again");
    }
    await store
      .markRatingReported(sessionId)
      .catch((error: unknown) =>
        log.warn({ err: error, sessionId }, "rating report failed; the worker retries"),
      );
  }

  return {
    reportRating,

    async submitReview(principal: Principal, input: { sessionId: string; rating: number; text: string }) {
      const { session, role } = await core.visible(principal, input.sessionId);
      if (role !== "user") throw permissionDenied("NOT_SESSION_USER", "only the session's user reviews it");
      if (session.status !== "ended")
        throw failedPrecondition("SESSION_NOT_ENDED", "review a session once it has ended");
      if (!Number.isInteger(input.rating) || input.rating < 1 || input.rating > 5)
        throw invalidArgument("VALIDATION_FAILED", "rating must be 1 to 5");
      requireText(input.text, "text", LIMITS.reviewChars, false);
      const review: ReviewRecord = {
        sessionId: session.id,
        expertId: session.expertId,
        userId: session.userId,
        rating: input.rating,
        text: input.text,
        createdAt: now(),
      };
      const inserted = await store.transaction((tx) => tx.insertReview(review));
      if (!inserted) throw alreadyExists("REVIEW_EXISTS", "this session has already been reviewed");
      await reportRating(review);
      return review;
    },
  };
}
