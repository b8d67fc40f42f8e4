import type { DatabaseGauge } from "@parley/kit/metrics";

/** What operators watch of billing's tables, read on each scrape (see docs/OPERATIONS.md, Metrics and alerts). */
export const BILLING_GAUGES: Record<string, DatabaseGauge> = {
  billing_outbox_backlog: {
    help: "Notifications committed and not yet delivered",
    query: "select count(*) as value from billing.notification_outbox",
  },
  billing_outbox_oldest_seconds: {
    help: "Age of the oldest undelivered notification (0 when none)",
    query: "select extract(epoch from now() - min(created_at)) as value from billing.notification_outbox",
  },
};
