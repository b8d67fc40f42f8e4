import { newId } from "@parley/kit/ids";
import type postgres from "postgres";
import type { DueClaim } from "../domain/ports";

/** The kit's pool registers int8 ↔ bigint at run time; this says so to the type checker. */
export type Sql = postgres.Sql<{ bigint: bigint }>;
export type Tx = postgres.TransactionSql<{ bigint: bigint }>;

export const asSql = (pool: postgres.Sql): Sql => pool as unknown as Sql;

/**
 * A Postgres array literal, passed as one text parameter and cast in SQL (`${array(ids)}::uuid[]`):
 * bulk statements keep one text whatever the batch size, so each stays one prepared statement.
 */
export function array(values: readonly (string | bigint | number | Date | null)[]): string {
  const texts: (string | null)[] = new Array(values.length);
  let plain = true;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const text = value === null ? null : value instanceof Date ? value.toISOString() : `${value}`;
    if (text === null || NEEDS_ESCAPE.test(text)) plain = false;
    texts[i] = text;
  }
  // The common case in one native join: no NULL, and nothing to escape anywhere (each text is
  // tested as it is made, rather than in a joined copy of them all made just for the test).
  if (plain) return values.length === 0 ? "{}" : `{"${texts.join('","')}"}`;
  let literal = "{";
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    if (i > 0) literal += ",";
    literal += text === null ? "NULL" : `"${text.replace(ESCAPED, "\\$&")}"`;
  }
  return `${literal}}`;
}

const NEEDS_ESCAPE = /[\\"]/;
const ESCAPED = /[\\"]/g;

/** Statements to pipeline: each is sent when started, in the order given. */
type Pipelined<T extends readonly unknown[]> = { [K in keyof T]: PromiseLike<T[K]> };

export interface Pipeline {
  /** Sends BEGIN without waiting for it; statements started after it follow on the wire. */
  begin(): Promise<unknown>;
  /** Sends the statements, then COMMIT, without waiting in between; resolves with their results. */
  commitWith<T extends readonly unknown[]>(...last: Pipelined<T>): Promise<T>;
}

/** Starts a postgres.js query now (they are lazy), so statements go out in the order started. */
const start = <T>(query: PromiseLike<T>): PromiseLike<T> => {
  const pending = query as PromiseLike<T> & { execute?: () => PromiseLike<T> };
  return typeof pending.execute === "function" ? pending.execute() : pending;
};

/**
 * Sends statements on one connection (a transaction's) back to back without waiting for each
 * answer, and waits for them all: one round trip. The first failure is thrown once every
 * statement has settled (after a failed statement, the rest fail or only roll back).
 */
export async function pipelined(statements: readonly PromiseLike<unknown>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(statements.map(start));
  const failed = settled.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value);
}

/**
 * A transaction on a reserved connection, for pipelining: `begin()` sends BEGIN ahead of the
 * first statements without waiting, and `commitWith` sends the last statements with COMMIT
 * right behind them (a COMMIT after a failed statement only rolls back). Any throw rolls back.
 */
export async function pipelinedTransaction<T>(
  sql: Sql,
  work: (tx: Tx, pipeline: Pipeline) => Promise<T>,
): Promise<T> {
  const reserved = await sql.reserve();
  const tx = reserved as unknown as Tx;
  let open = false;
  const pipeline: Pipeline = {
    begin() {
      open = true;
      return start(tx`begin`) as Promise<unknown>;
    },
    async commitWith<R extends readonly unknown[]>(...last: Pipelined<R>): Promise<R> {
      open = false;
      const results = await pipelined([...last, tx`commit`]);
      return results.slice(0, -1) as unknown as R;
    },
  };
  try {
    return await work(tx, pipeline);
  } catch (error) {
    if (open) await tx`rollback`.catch(() => undefined);
    throw error;
  } finally {
    reserved.release();
  }
}

/** Platform accounts: revenue shards, clearing, promotions. Their balance is the sum of their entries. */
export type PlatformAccountKind =
  | "revenue"
  | "clearing"
  | "promotions"
  | "payout_clearing"
  | "paid_out"
  | "tds";

/**
 * Platform revenue is spread over REVENUE_SHARDS accounts, one picked at random per posting:
 * every entry's foreign key share-locks its account row, and one row share-locked by every
 * concurrent charge becomes a contention point even though nothing updates it.
 */
export const REVENUE_SHARDS = 16;

/**
 * Ids of platform accounts. A missing one is created inside the caller's transaction (a move
 * never waits for a second connection), and ids are cached only once seen committed, that is
 * found before this transaction inserted anything.
 */
export function platformAccounts() {
  const cache = new Map<string, string[]>();
  async function ids(tx: Tx, kind: PlatformAccountKind, currency: string): Promise<string[]> {
    const cacheKey = `${kind}:${currency}`;
    const cached = cache.get(cacheKey);
    if (cached) return cached;
    const owners =
      kind === "revenue"
        ? Array.from({ length: REVENUE_SHARDS }, (_, shard) => `platform:${shard}`)
        : ["platform"];
    const find = async () => {
      const rows = await tx<{ id: string; owner_id: string }[]>`
        select id, owner_id from billing.accounts
        where kind = ${kind} and currency = ${currency} and owner_id = any(${array(owners)}::text[])`;
      const byOwner = new Map(rows.map((row) => [row.owner_id, row.id]));
      return owners.every((owner) => byOwner.has(owner))
        ? owners.map((owner) => byOwner.get(owner)!)
        : undefined;
    };
    const committed = await find();
    if (committed) {
      cache.set(cacheKey, committed);
      return committed;
    }
    await tx`
      insert into billing.accounts (id, kind, owner_id, currency)
      select id, ${kind}, owner_id, ${currency}
      from unnest(${array(owners.map(() => newId()))}::uuid[], ${array(owners)}::text[]) as o(id, owner_id)
      on conflict (kind, owner_id, currency) do nothing`;
    return (await find())!;
  }
  // The shard is a spreading choice, not a secret: Math.random is enough.
  const pick = (shards: string[]) => shards[Math.floor(Math.random() * shards.length)]!;
  return {
    /** One revenue shard, at random. */
    async revenue(tx: Tx, currency: string): Promise<string> {
      return pick(await ids(tx, "revenue", currency));
    },
    /** The currency's REVENUE_SHARDS revenue accounts when known committed; undefined otherwise. */
    cachedRevenueShards(currency: string): readonly string[] | undefined {
      return cache.get(`revenue:${currency}`);
    },
    async single(tx: Tx, kind: Exclude<PlatformAccountKind, "revenue">, currency: string): Promise<string> {
      return (await ids(tx, kind, currency))[0]!;
    },
  };
}

export type PlatformAccounts = ReturnType<typeof platformAccounts>;

/** The tables reconciliation claims rows of, and the column saying how long a row has had its status. */
const RECONCILED = { payments: "created_at", payment_refunds: "created_at", payouts: "updated_at" } as const;

/**
 * Claims up to `limit` rows of a reconciled table still in its status (pending; payouts
 * processing) since before `before` and due a check (oldest first, skipping rows another
 * instance holds), each stamped not due again before `nextCheckAt`: instances share the work and
 * a failed check is retried later. The status is a literal in the statement's text, not a
 * parameter: under the pool's generic plans (LEDGER_DATABASE_SETTINGS) only a literal matches
 * each table's partial index of its status.
 */
export function claimDue<Row extends object>(sql: Sql, table: keyof typeof RECONCILED, input: DueClaim) {
  const since = RECONCILED[table];
  const status = table === "payouts" ? sql`'processing'` : sql`'pending'`;
  return sql<Row[]>`
    update ${sql(`billing.${table}`)} set next_check_at = ${input.nextCheckAt}
    where id = any(array(
      select id from ${sql(`billing.${table}`)}
      where status = ${status} and ${sql(since)} < ${input.before}
        and (next_check_at is null or next_check_at <= ${input.now})
      order by ${sql(since)}, id
      limit ${input.limit}
      for update skip locked))
    returning *`;
}
