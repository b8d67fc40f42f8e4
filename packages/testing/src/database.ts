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

/**
 * A login role for one test file with what a service needs on its schema and nothing more: data
 * access (select, insert, update, delete) and its sequences, but no ownership, so it can neither
 * alter tables nor disable their triggers — the role a service should run as in production.
 * Returns a URL to `databaseUrl` as that role; the role is dropped when the test ends.
 */
export async function createServiceRole(t: Test, databaseUrl: string, schema: string): Promise<string> {
  const role = `parley_svc_${randomBytes(6).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create role ${role} login password '${password}'`);
  const database = new URL(databaseUrl).pathname.slice(1);
  await admin.unsafe(`grant connect on database ${database} to ${role}`);
  await admin.unsafe(`grant usage on schema ${schema} to ${role}`);
  await admin.unsafe(`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`);
  await admin.unsafe(`grant usage, select on all sequences in schema ${schema} to ${role}`);
  t.teardown(async () => {
    // The database may already be gone (its own teardown), taking the grants with it.
    await admin.unsafe(`drop owned by ${role}`).catch(() => undefined);
    await admin.end({ timeout: 5 });
    const server = postgres(testServerUrl(), { max: 1, onnotice: () => {} });
    await server.unsafe(`drop role if exists ${role}`).catch(() => undefined);
    await server.end({ timeout: 5 });
  });
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}
