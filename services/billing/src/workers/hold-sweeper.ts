import type { Logger } from "@parley/kit/log";
import type { Billing } from "../domain/billing";

/**
 * Marks holds past their expiry as expired every `intervalMs` (available never waited for it:
 * an overdue hold stops reserving money at once). A failed sweep is logged and retried next tick.
 * Returns the stop function.
 */
export function startHoldSweeper(billing: Billing, intervalMs: number, log: Logger): () => Promise<void> {
  const timer = setInterval(() => {
    billing.expireHolds().then(
      (expired) => expired > 0 && log.info({ expired }, "expired holds released"),
      (error: unknown) => log.warn({ err: error }, "hold sweep failed"),
    );
  }, intervalMs);
  timer.unref();
  return async () => clearInterval(timer);
}
