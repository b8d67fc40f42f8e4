import type { Logger } from "@parley/kit/log";
import { createDrainLoop } from "@parley/kit/outbox";
import { type DeliverDeps, deliverBatch } from "../domain/delivery";

/** Deliveries claimed per batch. */
const BATCH = 100;
/**
 * A wake-up waits this long before claiming: a burst of notifications (a login burst's sign-in
 * notices) is sent in batches, one claim and one record for several, a few ms later.
 */
const GATHER_MS = 50;

/**
 * The delivery loop: woken when Notify planned deliveries (nudge), and every `pollMs` for
 * retries that came due and other instances' work; drains batch after batch while full.
 */
export function createDeliveryWorker(deps: DeliverDeps, log: Logger, pollMs = 1_000) {
  const stopping = new AbortController();
  const drainOnce = () => deliverBatch(deps, BATCH, stopping.signal);
  const loop = createDrainLoop({ drainOnce, batch: BATCH, log, what: "deliveries", gatherMs: GATHER_MS });
  const timer = setInterval(loop.nudge, pollMs);
  timer.unref();
  return {
    nudge: loop.nudge,
    /** One batch now (tests). */
    drainOnce,
    /** Stops: a batch under way records what has answered and leaves the rest leased. */
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await loop.stop();
    },
  };
}
