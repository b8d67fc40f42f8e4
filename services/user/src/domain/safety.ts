import type { RatingSummary } from "./model";
import { checkUuid, Violations } from "./validation";

/** The session service's blocks (copied for discovery) and ratings taken back, as stored here. */
export interface SafetyCopyStore {
  /** Records the pair's state unless a newer change is already recorded. */
  applyBlock(blockerId: string, blockedId: string, blocked: boolean, changedAt: Date): Promise<void>;
  /** Takes a session's rating out of the summary; undefined when the expert does not exist. */
  retractRating(expertId: string, sessionId: string): Promise<RatingSummary | undefined>;
}

export type SafetyCopy = ReturnType<typeof createSafetyCopy>;

/** What the session service keeps current here: blocks for discovery, ratings of hidden reviews. */
export function createSafetyCopy(store: SafetyCopyStore) {
  return {
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
