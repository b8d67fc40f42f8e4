import { randomBytes } from "node:crypto";
import path from "node:path";
import postgres from "postgres";
import { startEmbeddedPostgres } from "./embedded-postgres";
import { REPO_ROOT } from "./spawn";

/** The value at fraction `p` of ascending values (p99: the fastest of the slowest 1 %); NaN if none. */
export const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

export interface BenchDatabase {
  /** A fresh, empty database for this benchmark run. */
  url: string;
  /** Drops the database and stops the embedded server, if one was started. */
  drop(): Promise<void>;
}

/**
 * A throwaway database on DATABASE_URL's server, or on an embedded Postgres kept under
 * `.data/bench-postgres` when DATABASE_URL is unset — durable (fsync and synchronous commit
 * on) as in production: with commits that never wait for the disk, a statement per charge
 * costs what a batch does, and the ratios the benchmarks report mean nothing.
 */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const embedded = process.env.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ dataDir: path.join(REPO_ROOT, ".data/bench-postgres") });
  const serverUrl = process.env.DATABASE_URL ?? embedded!.url;
  const name = `parley_bench_${randomBytes(4).toString("hex")}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
