import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { connectRedis, redisOr } from "@parley/kit/redis";
import type { AttemptLimiter } from "../domain/ports";

/**
 * Fixed-window counters in Postgres (`auth.attempt_counters`), shared by every auth instance:
 * one upsert per attempt, atomic under the row lock, on the service's clock. The counters
 * when there is no Redis, and what counts while Redis is unreachable.
 */
export function createPostgresAttemptLimiter(
  sql: Sql,
  now: () => Date = () => new Date(),
): AttemptLimiter & { sweep(): Promise<number> } {
  return {
    async consume(key, limit, windowSeconds) {
      // Timestamps go as ISO text: auth's pool is wrapped by drizzle, which turns postgres.js's
      // Date serialising off for every query on it.
      const at = now().toISOString();
      const windowEnds = new Date(now().getTime() + windowSeconds * 1000).toISOString();
      const [row] = await sql<{ count: number; ttl_ms: number }[]>`
        insert into auth.attempt_counters as c (key, count, window_ends_at)
        values (${key}, 1, ${windowEnds}::timestamptz)
        on conflict (key) do update set
          count = case when c.window_ends_at <= ${at}::timestamptz then 1 else c.count + 1 end,
          window_ends_at = case when c.window_ends_at <= ${at}::timestamptz then excluded.window_ends_at
                                else c.window_ends_at end
        returning count, (extract(epoch from window_ends_at - ${at}::timestamptz) * 1000)::float8 as ttl_ms`;
      return {
        allowed: row!.count <= limit,
        retryAfterSeconds: Math.max(1, Math.ceil(row!.ttl_ms / 1000)),
      };
    },
    async reset(key) {
      await sql`delete from auth.attempt_counters where key = ${key}`;
    },
    /** Forgets windows that ended over an hour ago; returns how many. */
    async sweep() {
      const swept = await sql`
        delete from auth.attempt_counters
        where window_ends_at < ${new Date(now().getTime() - 3_600_000).toISOString()}::timestamptz`;
      return swept.count;
    },
    async close() {},
  };
}

/**
 * Counters in Redis (INCR + PEXPIRE NX: the window starts with the first attempt), shared by
 * every instance, falling back to `fallback` (the Postgres counters) whenever Redis does not
 * answer: brute-force protection never switches off and never locks everyone out; an outage
 * only starts each key's window afresh. A reset clears both, so attempts counted during an
 * outage do not outlive a success.
 */
export function createRedisAttemptLimiter(
  url: string,
  keyPrefix: string,
  fallback: AttemptLimiter,
  log?: Logger,
): AttemptLimiter {
  const redis = connectRedis(url, { name: "attempt limiter", log });
  const viaRedisOr = redisOr(redis);
  const prefix = `${keyPrefix}auth:attempts:`;
  return {
    consume: (key, limit, windowSeconds) =>
      viaRedisOr(
        async () => {
          const results = await redis
            .multi()
            .incr(prefix + key)
            .pexpire(prefix + key, windowSeconds * 1000, "NX")
            .pttl(prefix + key)
            .exec();
          if (!results || results.some(([error]) => error)) throw new Error("attempt counter failed");
          const count = Number(results[0]![1]);
          const ttlMs = Number(results[2]![1]);
          return { allowed: count <= limit, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
        },
        () => fallback.consume(key, limit, windowSeconds),
      ),
    async reset(key) {
      await Promise.all([
        viaRedisOr(
          async () => void (await redis.del(prefix + key)),
          async () => undefined,
        ),
        fallback.reset(key),
      ]);
    },
    async close() {
      redis.disconnect();
      await fallback.close();
    },
  };
}
