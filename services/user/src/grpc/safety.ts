import { allow, type Permission } from "@parley/kit/auth";
import type { Handlers } from "@parley/kit/grpc";
import type { UserSafetyServiceService } from "@parley/proto/parley/user/v1/safety";
import type { SafetyCopy } from "../domain/safety";

/** Only the session service (which owns blocks and reviews) keeps these current. */
export const userSafetyPermissions: { [K in keyof typeof UserSafetyServiceService]: Permission } = {
  applyBlock: allow.services("session"),
  retractRating: allow.services("session"),
  updateExpertMetrics: allow.services("session"),
};

export function userSafetyHandlers(copy: SafetyCopy): Handlers<typeof UserSafetyServiceService> {
  return {
    async applyBlock(request) {
      await copy.applyBlock(request.blockerId, request.blockedId, request.blocked, request.changedAt);
      return {};
    },
    async retractRating(request) {
      return copy.retractRating(request.expertId, request.sessionId);
    },
    async updateExpertMetrics(request) {
      await copy.updateExpertMetrics({
        expertId: request.expertId,
        month: request.month,
        completedSessions: request.completedSessions,
        repeatClientRate: request.repeatClientRate,
        medianFirstResponseSeconds:
          request.medianFirstResponseSeconds === undefined
            ? null
            : Number(request.medianFirstResponseSeconds),
        asOf: request.asOf,
      });
      return {};
    },
  };
}
