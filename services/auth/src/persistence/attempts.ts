import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { connectRedis, type Redis, redisOr } from "@parley/kit/redis";
import type { AttemptLimiter } from "../domain/ports";

/**
 * Fixed-window counters in Postgres (`auth.attempt_counters`), shared by every auth instance:
 * one upsert per call (a row per counter), atomic under the row locks, on the service's clock.
 * The counters when there is no Redis, and what counts while Redis is unreachable.
 */
export function createPostgresAttemptLimiter(
  sql: Sql,
  now: () => Date = () => new Date(),
): AttemptLimiter & { sweep(): Promise<number> } {
  return {
    async consume(counters) {
      // The time goes as ISO text and windows as seconds: auth's pool is wrapped by drizzle,
      // which turns postgres.js's serialising of Dates (and of timestamp arrays) off for every
      // query on it. Rows are taken in key order, so calls over overlapping keys never wait on
      // each other in a cycle.
      const at = now().toISOString();
      const rows = await sql<{ key: string; count: number; ttl_ms: number }[]>`
        insert into auth.attempt_counters as c (key, count, window_ends_at)
        select key, 1, ${at}::timestamptz + seconds * interval '1 second'
        from unnest(${counters.map((c) => c.key)}::text[], ${counters.map((c) => c.windowSeconds)}::int[])
          as n(key, seconds)
        order by key
        on conflict (key) do update set
          count = case when c.window_ends_at <= ${at}::timestamptz then 1 else c.count + 1 end,
          window_ends_at = case when c.window_ends_at <= ${at}::timestamptz then excluded.window_ends_at
                                else c.window_ends_at end
        returning key, count, (extract(epoch from window_ends_at - ${at}::timestamptz) * 1000)::float8 as ttl_ms`;
      const byKey = new Map(rows.map((row) => [row.key, row]));
      return counters.map((counter) => {
        const row = byKey.get(counter.key)!;
        return {
          allowed: row.count <= counter.limit,
          retryAfterSeconds: Math.max(1, Math.ceil(row.ttl_ms / 1000)),
        };
      });
    },
    async reset(keys) {
      await sql`delete from auth.attempt_counters where key = any(${keys}::text[])`;
    },
    async resetOutsidePostgres() {},
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
 * One attempt under each key (KEYS, prefixed), in one atomic step: INCR, then the key's window
 * (ARGV, in ms, in the keys' order) set only when the key has no expiry yet — PEXPIRE NX's
 * fixed window, which starts with the first attempt and is never extended. Answers count and
 * PTTL of each key, flat, in the keys' order.
 */
const CONSUME_SCRIPT = `
local reply = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[i])
    redis.call('PEXPIRE', key, ttl)
  end
  reply[2 * i - 1] = count
  reply[2 * i] = ttl
end
return reply
`;

/** The client with the consume script defined on it (`defineCommand`). */
type ScriptedRedis = Redis & {
  consumeAttempts(keyCount: number, ...keysThenWindowsMs: Array<string | number>): Promise<number[]>;
};

/**
 * Counters in Redis (one script call for every counter of a call — INCR, and PEXPIRE when the
 * key has none: the window starts with the first attempt; one DEL for a reset's keys), shared
 * by every instance, falling back to `fallback` (the Postgres counters) whenever Redis does
 * not answer: brute-force protection never switches off and never locks everyone out; an
 * outage only starts each key's window afresh. A reset clears both, so attempts counted during
 * an outage do not outlive a success. The script goes as EVAL once per connection, EVALSHA
 * after it, and again as EVAL when the server answers NOSCRIPT (restarted or flushed).
 */
export function createRedisAttemptLimiter(
  url: string,
  keyPrefix: string,
  fallback: AttemptLimiter,
  log?: Logger,
): AttemptLimiter {
  const redis = connectRedis(url, { name: "attempt limiter", log }) as ScriptedRedis;
  redis.defineCommand("consumeAttempts", { lua: CONSUME_SCRIPT });
  const viaRedisOr = redisOr(redis);
  const prefix = `${keyPrefix}auth:attempts:`;
  const resetOutsidePostgres = (keys: string[]) =>
    viaRedisOr(
      async () => void (await redis.del(...keys.map((key) => prefix + key))),
      async () => undefined,
    );
  return {
    consume: (counters) =>
      viaRedisOr(
        async () => {
          const reply = await redis.consumeAttempts(
            counters.length,
            ...counters.map(({ key }) => prefix + key),
            ...counters.map(({ windowSeconds }) => windowSeconds * 1000),
          );
          return counters.map((counter, i) => ({
            allowed: reply[2 * i]! <= counter.limit,
            retryAfterSeconds: Math.max(1, Math.ceil(reply[2 * i + 1]! / 1000)),
          }));
        },
        () => fallback.consume(counters),
      ),
    async reset(keys) {
      await Promise.all([resetOutsidePostgres(keys), fallback.reset(keys)]);
    },
    resetOutsidePostgres,
    async close() {
      redis.disconnect();
      await fallback.close();
    },
  };
}
