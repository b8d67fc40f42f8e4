import { randomBytes } from "node:crypto";
import { migrateDatabase } from "@parley/kit/db";
import postgres from "postgres";
import type { Test } from "tap";

export interface TestDatabase {
  /** A URL to a fresh database that only this test file uses. */
  url: string;
}

export interface TestDatabaseOptions {
  /** Migrations to apply, one entry per service schema the test needs. */
  migrations?: Array<{ migrationsFolder: string; schema: string }>;
}

/** The server tests run against: `pnpm test` sets DATABASE_URL (embedded Postgres when unset). */
export function testServerUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: run tests with `pnpm test`, which provides one");
  return url;
}

/**
 * Creates a real, empty database for one test file on the test server, applies the given
 * migrations, and drops it when the test ends. Test files never share rows.
 */
export async function createTestDatabase(t: Test, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const name = `parley_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  });
  for (const migration of options.migrations ?? []) await migrateDatabase(url.toString(), migration);
  return { url: url.toString() };
}
