import type { Logger } from "@parley/kit/log";
import { type DeliverDeps, deliverBatch } from "../domain/delivery";

/** Deliveries claimed per batch. */
const BATCH = 100;

/**
 * The delivery loop: woken when Notify planned deliveries (nudge), and every `pollMs` for
 * retries that came due and other instances' work; drains batch after batch while full.
 */
export function createDeliveryWorker(deps: DeliverDeps, log: Logger, pollMs = 1_000) {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const nudge = () => {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        while ((await deliverBatch(deps, BATCH)) === BATCH && !stopped);
      } while (again && !stopped);
    })()
      .catch((error: unknown) => log.error({ err: error }, "delivery batch failed"))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(nudge, pollMs);
  timer.unref();
  return {
    nudge,
    /** One batch now (tests). */
    drainOnce: () => deliverBatch(deps, BATCH),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
