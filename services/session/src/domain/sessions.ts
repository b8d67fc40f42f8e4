import { chat } from "./chat";
import { createCore, type SessionsDeps } from "./core";
import { lifecycle } from "./lifecycle";
import { createMetering } from "./metering";
import { presence } from "./presence";
import { reviews } from "./reviews";
import { createSettlement } from "./settlement";

export { DEFAULT_RULES, type SessionRules, type SessionsDeps } from "./core";

export type Sessions = ReturnType<typeof createSessions>;

/**
 * The session use cases, by concern: lifecycle (request → queue → active → ended),
 * metering, settlement, chat, presence, reviews. The background workers drive the same
 * pieces (`parts`) on a timer.
 */
export function createSessions(deps: SessionsDeps) {
  const core = createCore(deps);
  const metering = createMetering(core);
  const settlement = createSettlement(core);
  const review = reviews(core);
  const { reportPresence } = presence(core);
  return {
    ...lifecycle(core, metering, settlement),
    ...chat(core),
    reportPresence,
    submitReview: review.submitReview,
    visible: core.visible,
    /** Watch support: events after a seq (bounded or not), for replay and gap filling. */
    eventsBetween: (sessionId: string, afterSeq: bigint, uptoSeq?: bigint) =>
      deps.store.eventsBetween(sessionId, afterSeq, uptoSeq),
    parts: { core, metering, settlement, reviews: review },
  };
}
