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
  const connections = presence(core);
  return {
    ...lifecycle(core, metering, settlement),
    ...chat(core),
    reportPresence: connections.reportPresence,
    submitReview: review.submitReview,
    visible: core.visible,
    /** Watch support: events after a seq (bounded or not), for replay and gap filling. */
    eventsBetween: async (sessionId: string, afterSeq: bigint, uptoSeq?: bigint) => {
      const events = await deps.store.eventsBetween(sessionId, afterSeq, uptoSeq);
      // A message a moderator hid replays without its content, as ListMessages reads it.
      const ids = events.flatMap((e) => (e.body.type === "message" ? [e.body.message.id] : []));
      const hidden = ids.length > 0 ? await deps.store.hiddenMessages(ids) : new Set<string>();
      if (hidden.size === 0) return events;
      return events.map((e) =>
        e.body.type === "message" && hidden.has(e.body.message.id)
          ? {
              ...e,
              body: {
                ...e.body,
                message: {
                  ...e.body.message,
                  text: "",
                  attachmentUrl: "",
                  attachmentContentType: "",
                  hidden: true,
                },
              },
            }
          : e,
      );
    },
    parts: { core, metering, settlement, reviews: review, presence: connections },
  };
}
