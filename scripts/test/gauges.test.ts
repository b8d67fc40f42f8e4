// The database gauges operators alert on (docs/OPERATIONS.md, Metrics and alerts): each service's queries run on
// its migrated schema and read what is there, at scrape time.
import { createDatabase } from "@parley/kit/db";
import { Registry, registerDatabaseGauges } from "@parley/kit/metrics";
import { createTestDatabase } from "@parley/testing";
import t from "tap";
import { AUTH_GAUGES } from "../../services/auth/src/persistence/gauges";
import { AUTH_MIGRATIONS } from "../../services/auth/src/server";
import { BILLING_GAUGES } from "../../services/billing/src/persistence/gauges";
import { BILLING_MIGRATIONS } from "../../services/billing/src/server";
import { SESSION_GAUGES } from "../../services/session/src/persistence/gauges";
import { SESSION_MIGRATIONS } from "../../services/session/src/server";

/** Each gauge's value in the Prometheus text a scrape returns. */
async function scrape(registry: Registry): Promise<Map<string, number>> {
  const text = await registry.metrics();
  return new Map(
    text
      .split("\n")
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => [line.split(/[{ ]/)[0]!, Number(line.split(" ").at(-1))] as const),
  );
}

t.test("database gauges: metering lag and outbox backlogs, read at each scrape", async (t) => {
  const { url } = await createTestDatabase(t, {
    migrations: [AUTH_MIGRATIONS, BILLING_MIGRATIONS, SESSION_MIGRATIONS],
  });
  const database = createDatabase(url, { max: 1 });
  t.teardown(database.close);
  const registry = new Registry();
  const gauges = { ...AUTH_GAUGES, ...BILLING_GAUGES, ...SESSION_GAUGES };
  registerDatabaseGauges(registry, database.sql, gauges);

  const empty = await scrape(registry);
  for (const name of Object.keys(gauges)) t.equal(empty.get(name), 0, `${name} reads 0 on empty tables`);

  await database.sql`insert into sessions.notification_outbox (id, payload, created_at)
    values ('a', '{}', now() - interval '90 seconds'), ('b', '{}', now())`;
  const backlog = await scrape(registry);
  t.equal(backlog.get("session_outbox_backlog"), 2, "the backlog counts undelivered rows");
  t.ok(backlog.get("session_outbox_oldest_seconds")! >= 90, "and the oldest one's age");

  await database.sql`drop table sessions.notification_outbox`;
  const after = await scrape(registry);
  t.equal(
    after.get("session_outbox_backlog"),
    2,
    "a failing query keeps the last value, the scrape still answers",
  );
});
