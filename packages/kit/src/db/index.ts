import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { instrumentPostgresQueries, tracingEnabled } from "../tracing";

export type Sql = postgres.Sql;

/** Whether a statement failed with this SQLSTATE (and, when given, on this constraint). */
export function isPgError(error: unknown, code: string, constraint?: string): boolean {
  const e = error as { code?: string; constraint_name?: string } | undefined;
  return e?.code === code && (constraint === undefined || e.constraint_name === constraint);
}

export interface Database {
  /**
   * The postgres.js pool. A service may wrap it with `drizzle(sql, { schema })`; note that
   * drizzle then makes the pool return timestamps as strings and stop serialising json for
   * every query on it, raw ones included (billing keeps raw SQL on an unwrapped pool for that).
   */
  sql: Sql;
  /**
   * Resolves when the database answers `select 1` within `timeoutMs` (default 2 s); rejects
   * otherwise, with `timedOut` set when it only took too long (the pool may be busy).
   */
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Seconds a new connection may take before the waiting query fails (default 5). */
  connectTimeoutSeconds?: number;
  /**
   * Server settings for every connection of the pool, sent at connect (e.g. billing's
   * `plan_cache_mode: "force_generic_plan"`: its statements are prepared once and planned once).
   */
  settings?: Record<string, string>;
}

/**
 * One connection pool per process and database; close it on shutdown. A connection the server
 * drops (restart, failover, pg_terminate_backend) fails only the queries on it, which the kit
 * answers as UNAVAILABLE (see `databaseError` in kit/errors); the pool reconnects on the next query.
 */
export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // After the n-th failed connection attempt in a row postgres.js waits 3^n / 100 s (times a
    // random 0.5–1) before the next, up to 20 s: six failures into an outage, a query waited
    // 3.6–7.3 s before it even tried (and failed). Capped at a second, a query in an outage fails
    // fast, and the pool reconnects within a second of the database's return.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
    ...(options.settings ? { connection: options.settings } : {}),
    onnotice: () => {},
    // int8 columns come back as bigint: money in minor units stays exact beyond 2^53.
    types: { bigint: postgres.BigInt },
  });
  // Query spans (inside a trace): every query of every pool is one Query class; a query made
  // and never awaited is never run.
  if (tracingEnabled()) instrumentPostgresQueries(Object.getPrototypeOf(sql`select 1`), databaseName(url));
  return {
    sql,
    async ping(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      const query = sql`select 1`;
      try {
        await Promise.race([
          query,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { timedOut: true })),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
        query.catch(() => undefined);
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

const databaseName = (url: string): string | undefined => {
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)) || undefined;
  } catch {
    return undefined;
  }
};

export interface MigrateOptions {
  /** The service's committed drizzle-kit migrations, e.g. `services/billing/drizzle`. */
  migrationsFolder: string;
  /** The service's schema (`billing`); names its migrations table. */
  schema: string;
}

/**
 * Applies a service's pending migrations under a Postgres advisory lock, so several
 * instances (and services) starting together migrate one at a time. Bookkeeping lives in
 * the `drizzle` schema, one table per service (`billing_migrations`), because drizzle-kit's
 * first migration creates the service schema itself.
 */
export async function migrateDatabase(url: string, options: MigrateOptions): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // One lock for every service: they share the `drizzle` bookkeeping schema, whose
    // CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent creator.
    await sql`select pg_advisory_lock(hashtext('parley:migrate'))`;
    await migrate(drizzle(sql), {
      migrationsFolder: options.migrationsFolder,
      migrationsSchema: "drizzle",
      migrationsTable: `${options.schema}_migrations`,
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
