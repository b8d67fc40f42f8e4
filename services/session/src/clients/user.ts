import { isAppError } from "@parley/kit/errors";
import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { UserSafetyServiceService } from "@parley/proto/parley/user/v1/safety";
import { ExpertAvailability, UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { ExpertDirectory, ExpertInfo } from "../domain/ports";
import type { SafetyMirror } from "../domain/safety-ports";

export type UserClient = ServiceClient<typeof UserServiceService>;

export function createUserClient(address: string, credentials: () => Promise<string>): UserClient {
  return createServiceClient(UserServiceService, {
    address,
    credentials,
    // Reads, and writes idempotent by expert (load), session (rating) or user (presence).
    idempotent: [
      "getExpert",
      "reportExpertLoad",
      "updateRatingSummary",
      "reportPresence",
      "notify",
      "notifyMany",
    ],
    defaultDeadlineMs: 5_000,
  });
}

const AVAILABILITY: Partial<Record<ExpertAvailability, ExpertInfo["availability"]>> = {
  [ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE]: "available",
  [ExpertAvailability.EXPERT_AVAILABILITY_BUSY]: "busy",
  [ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE]: "unavailable",
  [ExpertAvailability.EXPERT_AVAILABILITY_OFFLINE]: "offline",
};

/** The user service as the session domain sees it, over gRPC. */
export function expertDirectory(client: UserClient): ExpertDirectory {
  return {
    async getExpert(expertId) {
      try {
        const { expert } = await client.getExpert({ expertId });
        if (!expert) return undefined;
        return {
          expertId: expert.userId,
          chatRateMinor: expert.chatRate?.amountMinor ?? 0n,
          callRateMinor: expert.callRate?.amountMinor ?? 0n,
          currency: expert.chatRate?.currency || expert.callRate?.currency || "",
          maxConcurrentSessions: expert.maxConcurrentSessions,
          availability: AVAILABILITY[expert.availability] ?? "unavailable",
        };
      } catch (error) {
        if (isAppError(error) && error.kind === "not_found") return undefined;
        throw error;
      }
    },
    async reportExpertLoad(expertId, activeSessions) {
      await client.reportExpertLoad({ expertId, activeSessions });
    },
    async updateRatingSummary(expertId, sessionId, rating) {
      await client.updateRatingSummary({ expertId, sessionId, rating });
    },
    async reportPresence(userId, online) {
      await client.reportPresence({ userId, online });
    },
  };
}

export type UserSafetyClient = ServiceClient<typeof UserSafetyServiceService>;

export function createUserSafetyClient(
  address: string,
  credentials: () => Promise<string>,
): UserSafetyClient {
  return createServiceClient(UserSafetyServiceService, {
    address,
    credentials,
    // Both are idempotent: a block state with its time, a rating taken out once per session.
    idempotent: ["applyBlock", "retractRating", "updateExpertMetrics"],
    defaultDeadlineMs: 5_000,
  });
}

/** The user service's copy of blocks and its rating summaries, over gRPC. */
export function safetyMirror(client: UserSafetyClient): SafetyMirror {
  return {
    async apply(item) {
      if (item.kind === "block")
        await client.applyBlock({
          blockerId: item.blockerId,
          blockedId: item.blockedId,
          blocked: item.blocked,
          changedAt: new Date(item.changedAt),
        });
      else await client.retractRating({ expertId: item.expertId, sessionId: item.sessionId });
    },
    async publishMetrics(m) {
      await client.updateExpertMetrics({
        expertId: m.expertId,
        month: m.month,
        completedSessions: m.completedSessions,
        repeatClientRate: m.repeatClientRate,
        medianFirstResponseSeconds:
          m.medianFirstResponseSeconds === null ? undefined : BigInt(m.medianFirstResponseSeconds),
        asOf: m.asOf,
      });
    },
  };
}
