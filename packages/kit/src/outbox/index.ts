import { bigint, index, integer, jsonb, type PgSchema, text, timestamp } from "drizzle-orm/pg-core";
import type postgres from "postgres";
import type { Sql } from "../db";
import type { Logger } from "../log";
import { endSpan, runTraced, startOutboxSpan, withTraceContext } from "../tracing";

/**
 * A transactional outbox and its relay. A service keeps the table in its own schema (its
 * drizzle schema declares it with `outboxTable`) and
 * writes rows with `enqueueOutbox` in the same transaction as the state change, so a crash
 * can neither lose the message nor send it for a change that never committed. The relay
 * delivers after commit: woken by the NOTIFY the insert sends (delivered on commit, to every
 * instance), with a poll as the fallback. Delivery is at least once — a relay that dies after
 * delivering and before deleting the row delivers it again after the lease — so receivers
 * are idempotent by the row id.
 */

/** The outbox table, declared in a service's drizzle schema (its migrations create it). */
export function outboxTable(schema: PgSchema, name: string) {
  const at = (column: string) => timestamp(column, { withTimezone: true, mode: "date" });
  return schema.table(
    name,
    {
      id: text("id").primaryKey(),
      /** Insertion order: what one person hears of arrives in the order it happened. */
      position: bigint("position", { mode: "bigint" }).notNull().generatedAlwaysAsIdentity(),
      payload: jsonb("payload").notNull(),
      attempts: integer("attempts").notNull().default(0),
      // Database time, like the relay's claim: the outbox never sees an injected clock.
      nextAttemptAt: at("next_attempt_at").notNull().defaultNow(),
      lastError: text("last_error"),
      createdAt: at("created_at").notNull().defaultNow(),
    },
    (table) => [index(`${name}_due`).on(table.nextAttemptAt, table.position)],
  );
}

export interface OutboxRow<P> {
  /** The row id: the receiver's idempotency key (for example `<session>:accepted`). */
  id: string;
  payload: P;
}

/** Postgres NOTIFY channel of an outbox table (`sessions.notification_outbox` → `outbox_sessions_notification_outbox`). */
export const outboxChannel = (table: string) => `outbox_${table.replace(/\W/g, "_")}`;

/**
 * Adds rows to `table` inside the caller's transaction; a row whose id is already there is
 * left alone (the same change enqueued twice is one message). Inside a trace, each payload
 * carries the trace context (under `@trace`), so its delivery continues that trace.
 */
export async function enqueueOutbox<P>(
  tx: postgres.TransactionSql | Sql,
  table: string,
  rows: OutboxRow<P>[],
) {
  if (rows.length === 0) return;
  // One statement: a data-modifying CTE runs whether or not the query reads it.
  await tx`with queued as (
      insert into ${tx(table)} (id, payload)
      select * from unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => JSON.stringify(withTraceContext(r.payload)))}::text[]::jsonb[])
      on conflict (id) do nothing
    )
    select pg_notify(${outboxChannel(table)}, '')`;
}

export interface OutboxRelayOptions<P> {
  sql: Sql;
  /** Schema-qualified table, e.g. `sessions.notification_outbox`. */
  table: string;
  /** Delivers one row; throwing schedules a retry with backoff. */
  deliver(row: OutboxRow<P> & { attempts: number }): Promise<void>;
  /**
   * Delivers many rows in one call (e.g. user.NotifyMany), in insertion order; the receiver
   * keeps that order. Throwing delivers them again one by one with `deliver`, so a row it cannot
   * take holds back only its own key. Without it every row goes through `deliver`.
   */
  deliverMany?(rows: Array<OutboxRow<P> & { attempts: number }>): Promise<void>;
  /** Which rows may go through `deliverMany` (default: every one). */
  many?(payload: P): boolean;
  /**
   * Rows with the same key are delivered one after another in insertion order (e.g. the
   * recipient: "accepted" before "ended"); different keys concurrently. Default: one key.
   */
  orderKey?(payload: P): string;
  log: Logger;
  /** The fallback poll (default 2 s): a lost NOTIFY waits at most this long. */
  pollMs?: number;
  /** Rows claimed at once, delivered concurrently (default 50). */
  batch?: number;
  /** How long a claimed row is this relay's before another may retry it (default 30 s). */
  leaseSeconds?: number;
  /** Listen for NOTIFY (default true; off in tests that drive `drainOnce`). */
  listen?: boolean;
  /** How long a wake-up waits to gather more rows into its batch (default 0: none). */
  gatherMs?: number;
}

export interface OutboxRelay {
  start(): Promise<void>;
  /** Drains at once (also what a NOTIFY does). */
  nudge(): void;
  /** Claims and delivers one batch; returns how many rows it claimed. */
  drainOnce(): Promise<number>;
  stop(): Promise<void>;
}

export interface DrainLoop {
  /** Drains at once; a nudge during a drain runs one more after it. */
  nudge(): void;
  /** No drain starts any more; resolves when the running one has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `drainOnce` batch after batch while batches come back full (`batch` items), one drain
 * at a time: what outbox relays and delivery queues wake with a nudge (a NOTIFY, a write of
 * their own) and a poll. A failing drain is logged and left to the next nudge.
 */
export function createDrainLoop(options: {
  drainOnce(): Promise<number>;
  batch: number;
  log: Logger;
  /** Names the loop in the log. */
  what: string;
  /**
   * How long a nudge waits before its drain, so that the nudges of the next few milliseconds
   * (a burst of commits) share one claim and one settle instead of one each; 0 by default.
   */
  gatherMs?: number;
}): DrainLoop {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const gather = () => new Promise((resolve) => setTimeout(resolve, options.gatherMs));
  const nudge = () => {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        if (options.gatherMs) await gather();
        // Nudges until now are served by the drain that follows.
        again = false;
        while (!stopped && (await options.drainOnce()) === options.batch);
      } while (again && !stopped);
    })()
      .catch((error: unknown) => options.log.error({ err: error, what: options.what }, "drain failed"))
      .finally(() => {
        running = undefined;
      });
  };
  return {
    nudge,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Insertion order of claimed rows. */
const byPosition = (a: { position: bigint }, b: { position: bigint }) =>
  BigInt(a.position) < BigInt(b.position) ? -1 : 1;

/** Seconds before attempt n + 1: 1, 2, 4, … capped at ten minutes. */
export const outboxBackoffSeconds = (attempts: number) => Math.min(600, 2 ** Math.min(attempts - 1, 10));

/**
 * Claims due rows (FOR UPDATE SKIP LOCKED, so instances share the work) by pushing their
 * next attempt past a lease and committing — no transaction stays open across a delivery —
 * then delivers them concurrently: the batch's delivered rows are deleted together once its
 * deliveries are done, a failed one is due again after a backoff, its error kept, and the rows
 * of its order key behind it wait with it. With `deliverMany`, delivery goes in waves: each key
 * gives its next run of `many` rows (or its next other row, delivered alone beside them) and all
 * the keys' runs go in one call, so a burst of one person's notices is one call, not one each.
 */
export function createOutboxRelay<P>(options: OutboxRelayOptions<P>): OutboxRelay {
  const { sql, table, log } = options;
  const batch = options.batch ?? 50;
  const lease = options.leaseSeconds ?? 30;
  const name = sql(table);

  async function drainOnce(): Promise<number> {
    const claimed = await sql<{ id: string; payload: P | string; attempts: number; position: bigint }[]>`
      update ${name} set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ${lease})
      where id in (select id from ${name} where next_attempt_at <= now()
                   order by next_attempt_at, position limit ${batch} for update skip locked)
      returning id, payload, attempts, position`;
    // UPDATE … RETURNING gives no order: insertion order again.
    const rows = [...claimed].sort(byPosition);
    const byKey = new Map<string, typeof rows>();
    for (const row of rows) {
      const payload = (typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload) as P;
      row.payload = payload;
      const key = options.orderKey?.(payload) ?? "";
      byKey.set(key, [...(byKey.get(key) ?? []), row]);
    }
    const delivered: string[] = [];
    type Row = (typeof rows)[number];
    /** A key's rows and the next one to deliver (its length once done or held back). */
    const groups = [...byKey.values()].map((keyRows) => ({ rows: keyRows, next: 0 }));
    type Group = (typeof groups)[number];
    const message = (row: Row) => ({ id: row.id, payload: row.payload as P, attempts: row.attempts });
    // The delivery's span continues the trace of the change that wrote the row (if any); the
    // relay's own claim above belongs to no trace.
    const spanOf = (row: Row) => startOutboxSpan(table, row.payload, { "messaging.message.id": row.id });

    async function fail(group: Group, row: Row, error: unknown) {
      log.warn({ err: error, table, id: row.id, attempts: row.attempts }, "outbox delivery failed");
      // The key's later rows are not tried (their claim gave back the attempt it counted) and
      // wait as long as the failed one: due together, it comes first again (claims go by due
      // time, then position), so the key's order holds through failures.
      const waiting = group.rows.slice(group.rows.indexOf(row) + 1).map((later) => later.id);
      group.next = group.rows.length;
      await sql`update ${name} set
          last_error = case when id = ${row.id} then ${String(error).slice(0, 500)} else last_error end,
          attempts = case when id = ${row.id} then attempts else attempts - 1 end,
          next_attempt_at = now() + make_interval(secs => ${outboxBackoffSeconds(row.attempts)})
        where id = any(${[row.id, ...waiting]}::text[])`;
    }

    /** Delivers the group's next row with `deliver`; false when it failed (the group is held back). */
    async function one(group: Group, row: Row): Promise<boolean> {
      const span = spanOf(row);
      try {
        await runTraced(span, () => options.deliver(message(row)));
      } catch (error) {
        endSpan(span, error);
        await fail(group, row, error);
        return false;
      }
      endSpan(span);
      delivered.push(row.id);
      group.next++;
      return true;
    }

    const rest = async (group: Group, keyRows: Row[]) => {
      for (const row of keyRows) if (!(await one(group, row))) return;
    };

    /** The keys' runs of `many` rows in one `deliverMany` call, one by one if it fails. */
    async function together(
      runs: Array<{ group: Group; rows: Row[] }>,
      deliverMany: (rows: ReturnType<typeof message>[]) => Promise<void>,
    ) {
      const all = runs.flatMap((run) => run.rows).sort(byPosition);
      if (all.length === 0) return;
      if (all.length === 1) {
        await one(runs[0]!.group, all[0]!);
        return;
      }
      const spans = all.map(spanOf);
      try {
        await deliverMany(all.map(message));
      } catch (error) {
        for (const span of spans) endSpan(span, error);
        log.warn(
          { err: error, table, rows: all.length },
          "outbox batch delivery failed, delivering one by one",
        );
        await Promise.all(runs.map((run) => rest(run.group, run.rows)));
        return;
      }
      for (const span of spans) endSpan(span);
      for (const run of runs) run.group.next += run.rows.length;
      delivered.push(...all.map((row) => row.id));
    }

    const { deliverMany } = options;
    if (deliverMany === undefined) await Promise.all(groups.map((group) => rest(group, group.rows)));
    else {
      const many = (row: Row) => options.many?.(row.payload as P) ?? true;
      for (;;) {
        const active = groups.filter((group) => group.next < group.rows.length);
        if (active.length === 0) break;
        const runs: Array<{ group: Group; rows: Row[] }> = [];
        const alone: Group[] = [];
        for (const group of active) {
          let end = group.next;
          while (end < group.rows.length && many(group.rows[end]!)) end++;
          if (end === group.next) alone.push(group);
          else runs.push({ group, rows: group.rows.slice(group.next, end) });
        }
        await Promise.all([
          together(runs, deliverMany),
          ...alone.map((group) => one(group, group.rows[group.next]!)),
        ]);
      }
    }
    // The batch's delivered rows leave in one statement; dying before it delivers them again
    // after the lease, which the receivers' idempotency by id absorbs.
    if (delivered.length > 0) await sql`delete from ${name} where id = any(${delivered}::text[])`;
    return rows.length;
  }

  const loop = createDrainLoop({ drainOnce, batch, log, what: table, gatherMs: options.gatherMs });
  const nudge = loop.nudge;

  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  return {
    async start() {
      if (options.listen ?? true) {
        const listening = await sql.listen(outboxChannel(table), () => nudge());
        unlisten = listening.unlisten;
      }
      timer = setInterval(nudge, options.pollMs ?? 2_000);
      timer.unref();
      nudge();
    },
    nudge,
    drainOnce,
    async stop() {
      clearInterval(timer);
      await unlisten?.().catch(() => undefined);
      await loop.stop();
    },
  };
}
