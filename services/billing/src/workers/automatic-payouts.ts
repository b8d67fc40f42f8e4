import type { Logger } from "@parley/kit/log";
import type { Billing } from "../domain/billing";

/** The ISO week a date falls in, as `2026-W49`: the automatic payout's period. */
export function isoWeek(at: Date): string {
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** When the ISO week of a date began: its Monday, 00:00 UTC. */
export function isoWeekStart(at: Date): Date {
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  day.setUTCDate(day.getUTCDate() + 1 - (day.getUTCDay() || 7));
  return day;
}

/**
 * The weekly automatic payout: every `intervalMs`, each verified expert whose earnings reach the
 * threshold withdraws them all, once per ISO week (the week is in the request id, so repeated
 * checks, restarts and other instances make no second payout that week). A threshold of 0 turns
 * it off. Returns the stop function.
 */
export function startAutomaticPayouts(
  billing: Billing,
  options: { intervalMs: number; threshold: bigint; currencies: readonly string[] },
  log: Logger,
): () => Promise<void> {
  if (options.threshold === 0n) return async () => {};
  const timer = setInterval(async () => {
    for (const currency of options.currencies) {
      try {
        const now = new Date();
        const requested = await billing.runAutomaticPayouts({
          currency,
          threshold: options.threshold,
          period: isoWeek(now),
          since: isoWeekStart(now),
          limit: 500,
        });
        if (requested > 0) log.info({ requested, currency }, "automatic payouts requested");
      } catch (error) {
        log.warn({ err: error }, "automatic payouts failed");
      }
    }
  }, options.intervalMs);
  timer.unref();
  return async () => clearInterval(timer);
}
