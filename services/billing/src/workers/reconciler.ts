import type { Logger } from "@parley/kit/log";
import type { Billing } from "../domain/billing";

export interface ReconcilerOptions {
  intervalMs: number;
  /** Payments claimed per round. */
  batch: number;
  /** Provider reads in flight at once. */
  parallel: number;
}

/** One kind's round: claim a batch, reconcile it, say how it went. */
type Round = (
  limit: number,
  parallel: number,
  retryAfterMs: number,
) => Promise<{ claimed: number; unknown?: number }>;

/**
 * Every `intervalMs`, reconciles the payments still pending after the delay with their
 * providers (billing.reconcileDue), then the top-up refunds still pending
 * (billing.reconcileRefundsDue), then the payouts still processing with the payout rail
 * (billing.reconcilePayoutsDue), round after round while a round finds a full batch. Every
 * instance may run it: claims skip rows another holds and each row is not due again until the
 * next interval. A failed round is logged and retried next tick. Returns the stop function.
 */
export function startReconciler(
  billing: Billing,
  options: ReconcilerOptions,
  log: Logger,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const rounds: Array<[string, Round]> = [
    ["payments reconciled", billing.reconcileDue],
    ["top-up refunds reconciled", billing.reconcileRefundsDue],
    ["payouts reconciled", billing.reconcilePayoutsDue],
  ];
  const round = async () => {
    for (const [done, reconcile] of rounds)
      for (;;) {
        const result = await reconcile(options.batch, options.parallel, options.intervalMs);
        // A refund or payout its provider does not know by its own id is for staff.
        if (result.claimed > 0) log[(result.unknown ?? 0) > 0 ? "warn" : "info"](result, done);
        if (stopped || result.claimed < options.batch) break;
      }
  };
  const timer = setInterval(() => {
    if (running !== undefined) return;
    running = round()
      .catch((error: unknown) => log.warn({ err: error }, "reconciliation failed"))
      .finally(() => {
        running = undefined;
      });
  }, options.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
