import { staffActionsOf } from "@parley/kit/grpc";
import { SafetyServiceService } from "@parley/proto/parley/session/v1/safety";
import { SessionServiceService } from "@parley/proto/parley/session/v1/session";

/**
 * The staff actions the session service does, audited in auth's log by the kit server
 * (`staffActions`): each needs a reason, is recorded once it succeeds with the person it
 * concerns, and is recorded as denied when the permission map refuses it (a moderator resolving
 * a dispute). The session, report or dispute id stays in the recorded request. Reads and
 * people's own actions (blocking, reporting, reviewing) are not listed; SessionStaffService is
 * auth's own back office calling, audited there.
 */
export const SESSION_STAFF_ACTIONS = {
  ...staffActionsOf(SessionServiceService, {
    endSession: {
      action: "session.end",
      reason: "reason",
      target: (_request, response) => response?.session?.userId,
    },
  }),
  ...staffActionsOf(SafetyServiceService, {
    resolveReport: {
      action: "report.resolve",
      reason: "note",
      target: (_request, response) => response?.report?.subjectUserId,
    },
    resolveDispute: {
      action: "dispute.resolve",
      reason: "note",
      target: (_request, response) => response?.dispute?.userId,
    },
    hideReview: {
      action: "review.hide",
      reason: "note",
      target: (_request, response) => response?.review?.userId,
    },
  }),
};
