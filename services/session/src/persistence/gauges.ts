import type { DatabaseGauge } from "@parley/kit/metrics";

/** What operators watch of session's tables, read on each scrape (see docs/OPERATIONS.md, Metrics and alerts). */
export const SESSION_GAUGES: Record<string, DatabaseGauge> = {
  session_metering_lag_seconds: {
    help: "How late the most overdue minute of an active session is (0 when none is due)",
    query: `select greatest(extract(epoch from now() - min(next_charge_at)), 0) as value
      from sessions.sessions where status = 'active' and next_charge_at < now()
        and (paused_at is null or next_charge_at <= paused_at)`,
  },
  session_active_sessions: {
    help: "Sessions being metered now",
    query: "select count(*) as value from sessions.sessions where status = 'active'",
  },
  session_outbox_backlog: {
    help: "Notifications committed and not yet delivered",
    query: "select count(*) as value from sessions.notification_outbox",
  },
  session_outbox_oldest_seconds: {
    help: "Age of the oldest undelivered notification (0 when none)",
    query: "select extract(epoch from now() - min(created_at)) as value from sessions.notification_outbox",
  },
};
