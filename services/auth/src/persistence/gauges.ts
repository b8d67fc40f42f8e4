import type { DatabaseGauge } from "@parley/kit/metrics";

/** What operators watch of auth's tables, read on each scrape (see docs/OPERATIONS.md, Metrics and alerts). */
export const AUTH_GAUGES: Record<string, DatabaseGauge> = {
  auth_outbox_backlog: {
    help: "Outbox messages (profiles, notifications) committed and not yet delivered",
    query: "select count(*) as value from auth.outbox",
  },
  auth_outbox_oldest_seconds: {
    help: "Age of the oldest undelivered outbox message (0 when none)",
    query: "select extract(epoch from now() - min(created_at)) as value from auth.outbox",
  },
};
