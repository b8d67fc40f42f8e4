import { randomBytes } from "node:crypto";
import { createDatabase } from "@parley/kit/db";
import { connectRedis } from "@parley/kit/redis";
import { createTestDatabase, redisServerMissing, startThrowawayRedis } from "@parley/testing";
import t, { type Test } from "tap";
import type { AttemptLimiter } from "../src/domain/ports";
import { createPostgresAttemptLimiter, createRedisAttemptLimiter } from "../src/persistence/attempts";
import { createAuthStore } from "../src/persistence/store";
import { AUTH_MIGRATIONS } from "../src/server";

const redisUrl = process.env.REDIS_URL;

async function counters(t: Test, now?: () => Date) {
  const { url } = await createTestDatabase(t, { migrations: [AUTH_MIGRATIONS] });
  const database = createDatabase(url, { max: 10 });
  t.teardown(database.close);
  // As in the service, whose store wraps the same pool in drizzle (which changes its serialisers).
  createAuthStore(database.sql);
  return createPostgresAttemptLimiter(database.sql, now);
}

/** One attempt under one counter. */
const once = async (limiter: AttemptLimiter, key: string, limit: number, windowSeconds: number) =>
  (await limiter.consume([{ key, limit, windowSeconds }]))[0]!;

/** A call over several counters counts each under its own limit and answers in their order. */
async function severalAtOnce(t: Test, limiter: AttemptLimiter, prefix: string) {
  const [a, b, c] = [`${prefix}:a`, `${prefix}:b`, `${prefix}:c`];
  const call = () =>
    limiter.consume([
      { key: b, limit: 2, windowSeconds: 60 },
      { key: a, limit: 1, windowSeconds: 60 },
    ]);
  t.same(
    (await call()).map((r) => r.allowed),
    [true, true],
  );
  t.same(
    (await call()).map((r) => r.allowed),
    [true, false],
    "each counter against its own limit, in the order asked",
  );
  await once(limiter, c, 5, 60);
  await limiter.reset([a, b]);
  t.same(
    (await call()).map((r) => r.allowed),
    [true, true],
    "a reset forgets every key it names",
  );
  t.notOk((await once(limiter, c, 1, 60)).allowed, "and no other");
}

t.test(
  "Postgres counters: a window per key, refused past the limit, reset forgets, old windows swept",
  async (t) => {
    let now = new Date("2026-01-01T00:00:00Z");
    const limiter = await counters(t, () => now);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await once(limiter, "k", 3, 60));
    t.same(
      results.map((r) => r.allowed),
      [true, true, true, false],
    );
    t.equal(results[3]!.retryAfterSeconds, 60);
    now = new Date(now.getTime() + 61_000);
    t.ok((await once(limiter, "k", 3, 60)).allowed, "a new window");
    await once(limiter, "k", 1, 60);
    await limiter.reset(["k"]);
    t.ok((await once(limiter, "k", 1, 60)).allowed);
    now = new Date(now.getTime() + 2 * 3_600_000);
    t.equal(await limiter.sweep(), 1, "a window that ended over an hour ago is swept");
  },
);

t.test("Postgres counters: several counters in one call", async (t) => {
  await severalAtOnce(t, await counters(t), "k");
});

t.test("Postgres counters are atomic under concurrency", async (t) => {
  const limiter = await counters(t);
  const outcomes = await Promise.all(Array.from({ length: 40 }, () => once(limiter, "burst", 5, 60)));
  t.equal(outcomes.filter((o) => o.allowed).length, 5, "exactly the limit");
});

t.test(
  "Redis counters are shared by instances and atomic under concurrency",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const fallback = await counters(t);
    const a = createRedisAttemptLimiter(redisUrl!, "parley:", fallback);
    const b = createRedisAttemptLimiter(redisUrl!, "parley:", fallback);
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    const key = `test:${randomBytes(6).toString("hex")}`;
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => once(i % 2 ? a : b, key, 5, 2)));
    t.equal(outcomes.filter((o) => o.allowed).length, 5, "exactly the limit across two instances");
    t.ok(outcomes.every((o) => o.retryAfterSeconds >= 1 && o.retryAfterSeconds <= 2));
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    t.ok((await once(a, key, 5, 2)).allowed, "the window expires in Redis");
    await b.reset([key]);
    t.ok((await once(a, key, 1, 2)).allowed, "reset is shared");
    const other = `${key}:outside`;
    await once(fallback, other, 5, 60);
    await once(a, other, 5, 60);
    await a.resetOutsidePostgres([other]);
    t.ok((await once(a, other, 1, 60)).allowed, "resetOutsidePostgres forgets Redis's count");
    t.notOk((await once(fallback, other, 1, 60)).allowed, "and leaves Postgres's to the caller's statement");
    await severalAtOnce(t, a, key);
  },
);

/**
 * Less than Redis's command timeout (500 ms, @parley/kit/redis): a call this quick did not wait
 * on the server. Postgres's fallback count is most of it, which CI's other jobs can slow to
 * hundreds of milliseconds.
 */
const WITHIN_COMMAND_TIMEOUT_MS = 400;

/** Runs `work` and says how long it took. */
const timed = async <T>(work: () => Promise<T>) => {
  const started = Date.now();
  const result = await work();
  return { result, ms: Date.now() - started };
};

t.test(
  "Redis gone, dead or hung: counting goes on in Postgres, locking only the key under attack, nothing waits",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const fallback = await counters(t);
    const limiter = createRedisAttemptLimiter(redis.url, "parley:", fallback);
    t.teardown(limiter.close);
    const probe = connectRedis(redis.url, { name: "probe" });
    t.teardown(() => probe.disconnect());
    await new Promise((resolve) => setTimeout(resolve, 300)); // both clients connected
    t.ok((await once(limiter, "victim", 3, 60)).allowed);
    t.equal(await probe.get("parley:auth:attempts:victim"), "1", "counted in Redis while it answers");

    redis.freeze();
    const hung = await timed(() => once(limiter, "victim", 3, 60));
    t.ok(hung.result.allowed, "a hung Redis: the attempt is counted in Postgres");
    t.ok(hung.ms < 1_500, `one command timeout at most (${hung.ms} ms)`);
    const next = await timed(() => once(limiter, "victim", 3, 60));
    t.ok(
      next.ms < WITHIN_COMMAND_TIMEOUT_MS,
      `the calls after it do not wait on Redis again (${next.ms} ms)`,
    );

    redis.thaw();
    await redis.kill();
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await timed(() => once(limiter, "victim", 3, 60)));
    t.same(
      outcomes.map((o) => o.result.allowed),
      [true, false, false, false],
      "Redis dead: the account under attack locks at the limit, counted on in Postgres",
    );
    t.ok(
      outcomes.every((o) => o.ms < WITHIN_COMMAND_TIMEOUT_MS),
      `no attempt waits on the dead server (${outcomes.map((o) => o.ms).join(", ")} ms)`,
    );
    t.ok((await once(limiter, "someone-else", 3, 60)).allowed, "everyone else still gets in");
    await limiter.reset(["victim"]);
    t.ok((await once(limiter, "victim", 3, 60)).allowed, "a success resets the fallback count too");
  },
);

t.test(
  "Redis counters: one script call counts every key, sets each window once and never extends it",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const limiter = createRedisAttemptLimiter(redisUrl!, "parley:", await counters(t));
    t.teardown(limiter.close);
    const probe = connectRedis(redisUrl!, { name: "probe" });
    t.teardown(() => probe.disconnect());
    const key = `test:${randomBytes(6).toString("hex")}`;
    const [short, long] = [`${key}:short`, `${key}:long`];
    const call = () =>
      limiter.consume([
        { key: short, limit: 2, windowSeconds: 3 },
        { key: long, limit: 5, windowSeconds: 60 },
      ]);
    const first = await call();
    const pttl = (k: string) => probe.pttl(`parley:auth:attempts:${k}`);
    const [shortTtl, longTtl] = [await pttl(short), await pttl(long)];
    t.ok(shortTtl > 2_000 && shortTtl <= 3_000, `each key gets its own window (${shortTtl} ms)`);
    t.ok(longTtl > 59_000 && longTtl <= 60_000, `in the keys' order (${longTtl} ms)`);
    t.same(
      first.map((r) => r.retryAfterSeconds),
      [3, 60],
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await call();
    t.equal(await probe.get(`parley:auth:attempts:${short}`), "2", "counted once per call");
    const later = await pttl(short);
    t.ok(later < shortTtl - 1_000, `the window is not extended by a later attempt (${later} ms)`);
    t.same(
      second.map((r) => r.retryAfterSeconds),
      [2, 59],
      "the time left is answered, rounded up",
    );
    t.same(
      (await call()).map((r) => r.allowed),
      [false, true],
    );
    await probe.persist(`parley:auth:attempts:${long}`);
    await call();
    t.ok((await pttl(long)) > 59_000, "a key left without expiry gets its window at the next attempt");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    t.same(
      (await call()).map((r) => r.allowed),
      [true, true],
      "the window ended at its first attempt plus its length",
    );
    t.equal(await probe.get(`parley:auth:attempts:${short}`), "1", "and counting started afresh");
  },
);

t.test(
  "Redis counters survive a restarted or flushed script cache: still counted in Redis, not in Postgres",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const fallback = await counters(t);
    const limiter = createRedisAttemptLimiter(redis.url, "parley:", fallback);
    t.teardown(limiter.close);
    await new Promise((resolve) => setTimeout(resolve, 300)); // connected
    const count = async () => {
      const probe = connectRedis(redis.url, { name: "probe" });
      try {
        return await probe.get("parley:auth:attempts:k");
      } finally {
        probe.disconnect();
      }
    };
    await once(limiter, "k", 5, 60);
    await once(limiter, "k", 5, 60);
    t.equal(await count(), "2", "counted in Redis (EVAL, then EVALSHA on the same connection)");
    const flusher = connectRedis(redis.url, { name: "flusher" });
    await flusher.script("FLUSH");
    flusher.disconnect();
    await once(limiter, "k", 5, 60);
    t.equal(await count(), "3", "NOSCRIPT: the script is sent again and the attempt counted in Redis");
    await redis.restart();
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // reconnected, past redisOr's pause
    await once(limiter, "k", 5, 60);
    t.equal(await count(), "1", "a restarted (empty) server: counted in Redis afresh");
    t.same(
      await fallback.consume([{ key: "k", limit: 5, windowSeconds: 60 }]),
      [{ allowed: true, retryAfterSeconds: 60 }],
      "Postgres never counted any of them",
    );
  },
);
