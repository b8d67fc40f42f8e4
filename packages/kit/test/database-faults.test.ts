// A kit server over a real database that loses its connections: the calls hit answer
// UNAVAILABLE (DATABASE_UNAVAILABLE, retryable), the next ones work, and gRPC health says
// NOT_SERVING while the database is unreachable and SERVING again by itself.
import * as grpc from "@grpc/grpc-js";
import { allow, createAuthenticator, createTokenVerifier } from "@parley/kit/auth";
import { createDatabase } from "@parley/kit/db";
import { bindService, createHealthChecker, createServiceClient } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { createTestDatabase, failure, startTcpProxy, startTestServer, testServerUrl } from "@parley/testing";
import postgres from "postgres";
import t, { type Test } from "tap";
import { testHandlers } from "./fixtures/wallet-server";

/**
 * A server whose GetWallet runs `select pg_sleep(rate_minor / 1000)` on the given database; for
 * user "conflict", a wait of at most 50 ms for advisory lock 42 (which the test holds).
 */
async function serverOver(t: Test, databaseUrl: string) {
  const database = createDatabase(databaseUrl, { max: 4, connectTimeoutSeconds: 2 });
  t.teardown(database.close);
  const permissions = Object.fromEntries(
    Object.keys(BillingServiceService).map((key) => [key, allow.anyone]),
  );
  const { address } = await startTestServer(t, {
    name: "kit-test",
    services: [
      bindService(
        BillingServiceService,
        {
          ...testHandlers(),
          async getWallet(request) {
            if (request.userId === "conflict")
              await database.sql.begin(async (tx) => {
                await tx`set local lock_timeout = '50ms'`;
                await tx`select pg_advisory_xact_lock(42)`;
              });
            else await database.sql`select pg_sleep(${Number(request.rateMinor) / 1000})`;
            return { wallet: { userId: request.userId, minutesLeft: 0n, frozen: false } };
          },
        },
        permissions as never,
      ),
    ],
    authenticate: createAuthenticator({
      tokens: createTokenVerifier({
        issuer: "none",
        audience: "none",
        fetchJwks: async () => ({ keys: [] }),
      }),
    }),
    readiness: [() => database.ping(500)],
    readinessIntervalMs: 100,
  });
  const client = createServiceClient(BillingServiceService, { address, defaultDeadlineMs: 10_000 });
  t.teardown(() => client.close());
  const health = createHealthChecker(address);
  t.teardown(() => health.close());
  return { client, health, database };
}

const until = async (t: Test, what: string, check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.pass(what);
};

/** Waits for a `select pg_sleep…` to run in the database at `url`; terminates its backend when told. */
async function sleeper(t: Test, url: string) {
  const database = new URL(url).pathname.slice(1);
  const admin = postgres(testServerUrl(), { max: 1, onnotice: () => {} });
  t.teardown(() => admin.end({ timeout: 5 }));
  await until(t, "the query is running", async () => {
    const rows =
      await admin`select 1 from pg_stat_activity where datname = ${database} and query like 'select pg_sleep%'`;
    return rows.length > 0;
  });
  return {
    // Only the busy connection: an idle one being terminated at the same moment would fail
    // whichever next call it was handed before its close is seen.
    terminate: () => admin`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${database} and query like 'select pg_sleep%' and pid <> pg_backend_pid()`,
  };
}

/** What became of a query: "answered", or its error's code. */
const outcome = (query: PromiseLike<unknown>) =>
  Promise.resolve(query).then(
    () => "answered",
    (error: { code?: string }) => error.code,
  );

/** `promise`, or a rejection naming `what` after `ms`: a hang fails the test instead of stalling it. */
const within = async <T>(what: string, promise: Promise<T>, ms = 5_000): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/** A fresh database and a pool of one connection to it: a second query waits for that one. */
async function onePool(t: Test) {
  const { url } = await createTestDatabase(t);
  const database = createDatabase(url, { max: 1 });
  t.teardown(database.close);
  return { url, database };
}

t.test("a query on a terminated connection answers UNAVAILABLE; the pool reconnects", async (t) => {
  const { url } = await createTestDatabase(t);
  const { client } = await serverOver(t, url);

  const inFlight = failure(client.getWallet({ userId: "u", currency: "", rateMinor: 3_000n }));
  await (await sleeper(t, url)).terminate();
  const error = await inFlight;
  t.equal(error.code, grpc.status.UNAVAILABLE);
  t.equal(error.reason, "DATABASE_UNAVAILABLE");
  t.equal(error.retryAfterSeconds, 1, "RetryInfo says when to try again");
  const { wallet } = await client.getWallet({ userId: "u", currency: "", rateMinor: 0n });
  t.equal(wallet?.userId, "u", "the next call gets a fresh connection");
});

t.test("health follows a database that goes away and comes back", async (t) => {
  const { url } = await createTestDatabase(t);
  const proxy = await startTcpProxy(t, `${new URL(url).hostname}:${new URL(url).port || 5432}`);
  const { client, health } = await serverOver(t, proxy.through(url));
  t.equal(await health.check(""), "SERVING");
  await proxy.cut();
  await until(
    t,
    "NOT_SERVING while the database is unreachable",
    async () => (await health.check("")) === "NOT_SERVING",
  );
  t.equal(await health.check("parley.billing.v1.BillingService"), "NOT_SERVING", "for each service too");
  const started = Date.now();
  const error = await failure(client.getWallet({ userId: "u", currency: "", rateMinor: 0n }));
  t.equal(error.reason, "DATABASE_UNAVAILABLE");
  t.ok(Date.now() - started < 3_000, "a call fails fast instead of waiting for the database");
  await proxy.restore();
  await until(t, "SERVING again once it answers", async () => (await health.check("")) === "SERVING");
  const { wallet } = await client.getWallet({ userId: "u", currency: "", rateMinor: 0n });
  t.equal(wallet?.userId, "u");
});

t.test("a connection lost halfway through a result hands nothing of it to the next query", async (t) => {
  const { database } = await onePool(t);
  // Two rows reach the client, then the backend terminates itself (a FATAL error, then the
  // socket closes): the query fails, and no ReadyForQuery ever closes its result.
  const cutOff = database.sql`
    select n from (values (1), (2)) as v(n)
    union all
    select case when pg_terminate_backend(pg_backend_pid()) then 3 end`;
  await t.rejects(cutOff, { code: "CONNECTION_CLOSED" }, "the cut-off query fails");
  // The pool has one connection: the next query runs on the same one, over a new socket.
  const rows = await database.sql`select 42 as n`;
  t.same([...rows], [{ n: 42 }], "the next query gets its own row and only that");
});

t.test(
  "a reserve waiting for a connection whose backend is terminated gets that connection once it reconnects",
  async (t) => {
    const { url, database } = await onePool(t);
    const busy = database.sql`select pg_sleep(5)`;
    const settled = outcome(busy);
    const running = await sleeper(t, url);
    const waiting = database.sql.reserve();
    await running.terminate();
    t.equal(await settled, "CONNECTION_CLOSED", "the query on it fails");
    const reserved = await within("the waiting reserve", waiting);
    const [row] = await within("a query on it", reserved`select 7 as n`);
    t.equal(row?.n, 7, "and it works");
    reserved.release();
    const [again] = await within("a query on the pool", database.sql`select 8 as n`);
    t.equal(again?.n, 8, "the pool has it back");
  },
);

t.test(
  "a reserved connection whose backend is terminated fails its next query, and releasing it leaves the pool working",
  async (t) => {
    const { url, database } = await onePool(t);
    const reserved = await database.sql.reserve();
    const sleeping = reserved`select pg_sleep(5)`;
    const settled = outcome(sleeping);
    await (await sleeper(t, url)).terminate();
    t.equal(await settled, "CONNECTION_CLOSED", "the query on it fails");
    await t.rejects(
      within("the next query on it", reserved`select 1`),
      { code: "CONNECTION_CLOSED" },
      "so does the next one (a rollback, say), at once",
    );
    reserved.release();
    const [row] = await within("a query on the pool", database.sql`select 9 as n`);
    t.equal(row?.n, 9, "the pool reconnects");
    const other = await within("another reserve", database.sql.reserve());
    const [reservedRow] = await within("a query on it", other`select 10 as n`);
    t.equal(reservedRow?.n, 10);
    other.release();
  },
);

t.test("a transaction that loses to a concurrent one answers ABORTED, retryable, not INTERNAL", async (t) => {
  const { url } = await createTestDatabase(t);
  const { client } = await serverOver(t, url);
  const holder = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => holder.end({ timeout: 5 }));
  await holder`select pg_advisory_lock(42)`;
  const error = await failure(client.getWallet({ userId: "conflict", currency: "", rateMinor: 0n }));
  t.same(
    [error.code, error.reason, error.retryAfterSeconds],
    [grpc.status.ABORTED, "DATABASE_CONFLICT", 1],
    "a lock it could not have in time, as a deadlock or a serialization failure",
  );
});

t.test("a pool busy with the service's own load is not taken for a database gone", async (t) => {
  const { url } = await createTestDatabase(t);
  const database = createDatabase(url, { max: 1 });
  t.teardown(database.close);
  const { address } = await startTestServer(t, {
    name: "kit-test",
    services: [],
    authenticate: createAuthenticator({
      tokens: createTokenVerifier({
        issuer: "none",
        audience: "none",
        fetchJwks: async () => ({ keys: [] }),
      }),
    }),
    readiness: [() => database.ping(50)],
    readinessIntervalMs: 200,
  });
  const health = createHealthChecker(address);
  t.teardown(() => health.close());
  // The pool's one connection is busy for 150 ms: a round's ping times out behind it, at most two.
  const busy = database.sql`select pg_sleep(0.15)`.execute();
  const seen = new Set<string>();
  const started = Date.now();
  while (Date.now() - started < 400) {
    seen.add(await health.check(""));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await busy;
  t.same([...seen], ["SERVING"], "health stays SERVING through a short burst");
  // Busy for longer (2 s, ten rounds): then it is said.
  const long = database.sql`select pg_sleep(2)`.execute();
  await until(
    t,
    "NOT_SERVING once the pings time out round after round",
    async () => (await health.check("")) === "NOT_SERVING",
  );
  await long;
  await until(t, "SERVING again", async () => (await health.check("")) === "SERVING");
});
