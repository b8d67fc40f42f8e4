import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { createOutboxRelay } from "@parley/kit/outbox";
import type { SafetySync } from "../domain/safety-model";
import type { SafetyMirror } from "../domain/safety-ports";
import { SAFETY_OUTBOX } from "../persistence/safety-store";

/**
 * Relays the safety outbox to the user service (its copy of blocks for discovery, ratings
 * taken back from hidden reviews): each change once committed, one pair's or one expert's
 * changes in order, retried with backoff. ApplyBlock and RetractRating are idempotent.
 */
export function createSafetyRelay(sql: Sql, mirror: SafetyMirror, log: Logger, pollMs?: number) {
  return createOutboxRelay<SafetySync & { key: string }>({
    sql,
    table: SAFETY_OUTBOX,
    log,
    pollMs,
    deliver: ({ payload: { key: _key, ...item } }) => mirror.apply(item as SafetySync),
    orderKey: (payload) => payload.key,
  });
}
