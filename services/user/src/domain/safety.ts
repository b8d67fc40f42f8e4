import type { RatingSummary } from "./model";
import { checkUuid, Violations } from "./validation";

/** An expert's public figures, as the session service last computed them. */
export interface ExpertMetricsRecord {
  expertId: string;
  /** "YYYY-MM" (UTC): the month `completedSessions` belongs to. */
  month: string;
  completedSessions: number;
  repeatClientRate: number;
  medianFirstResponseSeconds: number | null;
  asOf: Date;
}

/** The session service's blocks (copied for discovery) and ratings taken back, as stored here. */
export interface SafetyCopyStore {
  /** Records the figures unless newer ones (by asOf) are there. */
  putExpertMetrics(metrics: ExpertMetricsRecord): Promise<void>;
  getExpertMetrics(expertId: string): Promise<ExpertMetricsRecord | undefined>;
  /** Records the pair's state unless a newer change is already recorded. */
  applyBlock(blockerId: string, blockedId: string, blocked: boolean, changedAt: Date): Promise<void>;
  /** Takes a session's rating out of the summary; undefined when the expert does not exist. */
  retractRating(expertId: string, sessionId: string): Promise<RatingSummary | undefined>;
}

export type SafetyCopy = ReturnType<typeof createSafetyCopy>;

/** What the session service keeps current here: blocks for discovery, ratings of hidden reviews. */
export function createSafetyCopy(store: SafetyCopyStore, now: () => Date = () => new Date()) {
  return {
    async updateExpertMetrics(
      metrics: ExpertMetricsRecord | (Omit<ExpertMetricsRecord, "asOf"> & { asOf?: Date }),
    ) {
      const v = new Violations();
      checkUuid(v, "expert_id", metrics.expertId);
      if (!/^\d{4}-\d{2}$/.test(metrics.month)) v.add("month", "must be YYYY-MM");
      if (metrics.completedSessions < 0) v.add("completed_sessions", "must be >= 0");
      if (!(metrics.repeatClientRate >= 0 && metrics.repeatClientRate <= 1))
        v.add("repeat_client_rate", "must be 0..1");
      if (!metrics.asOf) v.add("as_of", "is required");
      v.throwIfAny();
      await store.putExpertMetrics(metrics as ExpertMetricsRecord);
    },
    /** The public figures; this month's count reads 0 once its month is over. */
    async expertMetrics(expertId: string): Promise<ExpertMetricsRecord | undefined> {
      const metrics = await store.getExpertMetrics(expertId);
      if (!metrics) return undefined;
      const month = now().toISOString().slice(0, 7);
      return metrics.month === month ? metrics : { ...metrics, month, completedSessions: 0 };
    },
    async applyBlock(blockerId: string, blockedId: string, blocked: boolean, changedAt: Date | undefined) {
      const v = new Violations();
      checkUuid(v, "blocker_id", blockerId);
      checkUuid(v, "blocked_id", blockedId);
      if (!changedAt) v.add("changed_at", "is required");
      v.throwIfAny();
      await store.applyBlock(blockerId, blockedId, blocked, changedAt!);
    },
    async retractRating(expertId: string, sessionId: string): Promise<RatingSummary> {
      const v = new Violations();
      checkUuid(v, "expert_id", expertId);
      checkUuid(v, "session_id", sessionId);
      v.throwIfAny();
      return (
        (await store.retractRating(expertId, sessionId)) ?? {
          ratingAverage: 0,
          ratingCount: 0,
          applied: false,
        }
      );
    },
  };
}
