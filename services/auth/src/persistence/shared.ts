import type { PersonRole } from "@parley/kit/auth";
import { newId } from "@parley/kit/ids";
import { outboxChannel } from "@parley/kit/outbox";
import { withTraceContext } from "@parley/kit/tracing";
import { and, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { drizzle } from "drizzle-orm/postgres-js";
import type { Account, OutboxMessage } from "../domain/model";
import type { Page } from "../domain/ports";
import type * as schema from "./schema";

export type Db = ReturnType<typeof drizzle<typeof schema>>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** A one-time secret (code, challenge, reset) still good at `at`: not spent and not expired. */
export const unspent = (table: { usedAt: AnyPgColumn; expiresAt: AnyPgColumn }, at: Date) =>
  and(isNull(table.usedAt), gt(table.expiresAt, at));

export const toAccount = (row: typeof schema.accounts.$inferSelect): Account => ({
  id: row.id,
  status: row.status,
  emailVerifiedAt: row.emailVerifiedAt,
  phoneVerifiedAt: row.phoneVerifiedAt,
  email: row.email,
  phone: row.phone,
  passwordHash: row.passwordHash,
  role: row.role as PersonRole,
  partnerId: row.partnerId,
  totpSecretSealed: row.totpSecretSealed,
  totpEnabled: row.totpEnabled,
  createdAt: row.createdAt,
});

export function page<T extends { id: string }>(rows: T[], limit: number, at: (row: T) => Date): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? { at: at(last), id: last.id } : undefined };
}

/** Keyset paging, newest first: rows strictly after the cursor in (created_at, id) order. */
export function olderThan(
  createdAt: AnyPgColumn,
  id: AnyPgColumn,
  after: { at: Date; id: string } | undefined,
) {
  return after ? or(lt(createdAt, after.at), and(eq(createdAt, after.at), lt(id, after.id))) : undefined;
}

/** auth's outbox (kit outbox): each row's payload is an `OutboxMessage`. */
export const OUTBOX = "auth.outbox";

/** Outbox rows of messages: inside a trace, each message carries its context (kit/tracing), which the relay continues. */
export const outboxRows = (messages: OutboxMessage[]) =>
  messages.map((message) => ({ id: newId(), payload: withTraceContext(message) }));

/**
 * Queues messages in the caller's drizzle transaction and wakes the relays (NOTIFY, delivered
 * on commit): the kit's `enqueueOutbox` for drizzle, in one statement.
 */
export async function enqueue(tx: Tx, messages: OutboxMessage[]) {
  if (messages.length === 0) return;
  await tx.execute(sql`with queued as (
      insert into auth.outbox (id, payload)
      select m.row ->> 'id', m.row -> 'payload'
      from jsonb_array_elements(${JSON.stringify(outboxRows(messages))}::jsonb) with ordinality as m(row, n)
      order by m.n
    )
    select pg_notify(${outboxChannel(OUTBOX)}, '')`);
}
