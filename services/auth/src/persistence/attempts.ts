import { connectRedis } from "@parley/kit/redis";
import type { AttemptLimiter } from "../domain/ports";

/**
 * Fixed-window counters in Redis, shared by every auth instance: INCR is atomic, and the
 * window starts with the first attempt (PEXPIRE NX).
 */
export function createRedisAttemptLimiter(url: string, keyPrefix = "parley:"): AttemptLimiter {
  const redis = connectRedis(url, { name: "attempt limiter" });
  const prefix = `${keyPrefix}auth:attempts:`;
  return {
    async consume(key, limit, windowSeconds) {
      const results = await redis
        .multi()
        .incr(prefix + key)
        .pexpire(prefix + key, windowSeconds * 1000, "NX")
        .pttl(prefix + key)
        .exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      const ttlMs = Number(results?.[2]?.[1] ?? windowSeconds * 1000);
      return { allowed: count <= limit, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
    },
    async reset(key) {
      await redis.del(prefix + key);
    },
    async close() {
      await redis.quit();
    },
  };
}

/** The same counters in this process only: right for one instance, or tests. */
export function createInProcessAttemptLimiter(now: () => Date = () => new Date()): AttemptLimiter {
  const windows = new Map<string, { count: number; endsAtMs: number }>();
  return {
    async consume(key, limit, windowSeconds) {
      const at = now().getTime();
      let window = windows.get(key);
      if (!window || window.endsAtMs <= at) {
        window = { count: 0, endsAtMs: at + windowSeconds * 1000 };
        windows.set(key, window);
      }
      window.count += 1;
      if (windows.size > 100_000) {
        for (const [k, w] of windows) if (w.endsAtMs <= at) windows.delete(k);
      }
      return {
        allowed: window.count <= limit,
        retryAfterSeconds: Math.max(1, Math.ceil((window.endsAtMs - at) / 1000)),
      };
    },
    async reset(key) {
      windows.delete(key);
    },
    async close() {},
  };
}
