import { randomBytes } from "node:crypto";
import t from "tap";
import { createInProcessAttemptLimiter, createRedisAttemptLimiter } from "../src/persistence/attempts";

const redisUrl = process.env.REDIS_URL;

t.test("in-process counters: a window per key, refused past the limit, reset forgets", async (t) => {
  let now = new Date("2026-01-01T00:00:00Z");
  const limiter = createInProcessAttemptLimiter(() => now);
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await limiter.consume("k", 3, 60));
  t.same(
    results.map((r) => r.allowed),
    [true, true, true, false],
  );
  t.equal(results[3]!.retryAfterSeconds, 60);
  now = new Date(now.getTime() + 61_000);
  t.ok((await limiter.consume("k", 3, 60)).allowed, "a new window");
  await limiter.consume("k", 1, 60);
  await limiter.reset("k");
  t.ok((await limiter.consume("k", 1, 60)).allowed);
});

t.test(
  "Redis counters are shared by instances and atomic under concurrency",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const a = createRedisAttemptLimiter(redisUrl!);
    const b = createRedisAttemptLimiter(redisUrl!);
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    const key = `test:${randomBytes(6).toString("hex")}`;
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).consume(key, 5, 2)),
    );
    t.equal(outcomes.filter((o) => o.allowed).length, 5, "exactly the limit across two instances");
    t.ok(outcomes.every((o) => o.retryAfterSeconds >= 1 && o.retryAfterSeconds <= 2));
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    t.ok((await a.consume(key, 5, 2)).allowed, "the window expires in Redis");
    await b.reset(key);
    t.ok((await a.consume(key, 1, 2)).allowed, "reset is shared");
  },
);
