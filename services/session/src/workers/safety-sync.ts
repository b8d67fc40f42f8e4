import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { createOutboxRelay } from "@parley/kit/outbox";
import type { SafetySync } from "../domain/safety-model";
import type { SafetyMirror } from "../domain/safety-ports";
import { SAFETY_OUTBOX } from "../persistence/safety-store";

/**
 * Relays the safety outbox to the user service (its copy of blocks for discovery, ratings
 * taken back from hidden reviews): each change once committed, one pair's or one expert's
 * changes in order, retried with backoff. ApplyBlock and RetractRating are idempotent. A block
 * first closes what is still open between the two (`closeBetween`, idempotent): BlockPerson
 * does so at once, and this is its retry when that failed (billing down, say) and nobody asked
 * again.
 */
export function createSafetyRelay(
  sql: Sql,
  mirror: SafetyMirror,
  closeBetween: (a: string, b: string) => Promise<void>,
  log: Logger,
  pollMs?: number,
) {
  return createOutboxRelay<SafetySync & { key: string }>({
    sql,
    table: SAFETY_OUTBOX,
    log,
    pollMs,
    deliver: async ({ payload: { key: _key, ...change } }) => {
      const item = change as SafetySync;
      if (item.kind === "block" && item.blocked) await closeBetween(item.blockerId, item.blockedId);
      await mirror.apply(item);
    },
    orderKey: (payload) => payload.key,
  });
}
