import { resourceExhausted } from "@parley/kit/errors";
import type { Redis } from "@parley/kit/redis";

/** Rate limits count requests per fixed minute (every route, and the WebSocket RPC frames). */
export const RATE_WINDOW_MS = 60_000;

/** A signed-in person's counter key (anyone else is counted by address: plugins/external/rate-limit.ts). */
export const personRateKey = (userId: string) => `user:${userId}`;

/** An RPC route's limit a minute: its own (RATE_LIMIT_ROUTES, by verb and template) or the default. */
export const routeLimit = (
  route: { verb: string; template: string },
  limits: { perMinute: number; routes: Record<string, number> },
) => limits.routes[`${route.verb} ${route.template}`] ?? limits.perMinute;

/** Over the limit: RESOURCE_EXHAUSTED RATE_LIMITED, retried when the window (`ttlMs` left) ends. */
export const rateLimited = (max: number, ttlMs: number) =>
  resourceExhausted("RATE_LIMITED", `rate limit of ${max} requests per minute exceeded`, {
    retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
  });

/** What @fastify/rate-limit asks a store for: the count of `key` in its current window. */
type Answer = (error: Error | null, result: { current: number; ttl: number }) => void;

export interface RateStore {
  incr(key: string, answer: Answer, timeWindow: number, max: number): void;
  read(key: string, answer: Answer, timeWindow: number): void;
  child(options: { routeInfo?: { method?: string | string[]; url?: string } }): RateStore;
}

interface Counter {
  /** Index of the fixed window (time / timeWindow): every instance names the same window. */
  window: number;
  timeWindow: number;
  /** The count across instances at the last sync (this instance's synced hits included). */
  shared: number;
  /** Hits sent to Redis, not answered yet. */
  inflight: number;
  /** Hits since then, not yet sent. */
  unsynced: number;
}

export interface RateCounterOptions {
  /** Shared counters; without it (or while it is down) each instance counts alone. */
  redis?: Redis;
  keyPrefix: string;
  /** How often local hits are pushed to Redis and the shared totals read back. */
  syncIntervalMs: number;
  onSyncError?: (error: unknown) => void;
}

/**
 * Fixed-window request counters that cost no network round trip per request. Each request
 * is counted in memory and decided at once against the last known shared total plus this
 * instance's hits since; every `syncIntervalMs` the hits of the touched keys go to Redis in
 * one pipeline (INCRBY + PEXPIRE per key) and the totals come back. Between two syncs the
 * instances together may let through a little more than the limit (what they served in one
 * interval); a dead Redis costs nothing but sharing: each instance keeps counting on its own
 * and retries the sync later, so limits stay on and requests never wait for Redis.
 */
export function createRateCounter(options: RateCounterOptions) {
  const counters = new Map<string, Counter>();
  const dirty = new Set<string>();
  let syncing = false;

  const counterOf = (key: string, timeWindow: number, now: number): Counter => {
    const window = Math.floor(now / timeWindow);
    let counter = counters.get(key);
    if (!counter || counter.window !== window || counter.timeWindow !== timeWindow) {
      counter = { window, timeWindow, shared: 0, inflight: 0, unsynced: 0 };
      counters.set(key, counter);
    }
    return counter;
  };
  const answer = (counter: Counter, now: number) => ({
    current: counter.shared + counter.inflight + counter.unsynced,
    ttl: (counter.window + 1) * counter.timeWindow - now,
  });

  async function sync(): Promise<void> {
    if (syncing) return;
    const now = Date.now();
    // Windows that ended are forgotten (their Redis keys expire by themselves).
    for (const [key, counter] of counters)
      if ((counter.window + 1) * counter.timeWindow <= now && counter.inflight === 0) {
        counters.delete(key);
        dirty.delete(key);
      }
    const { redis } = options;
    if (!redis || dirty.size === 0 || redis.status !== "ready") return;
    syncing = true;
    const batch = [...dirty].flatMap((key) => {
      const counter = counters.get(key);
      if (!counter) return [];
      const sent = counter.unsynced;
      counter.inflight += sent;
      counter.unsynced = 0;
      return [{ key, counter, sent, redisKey: `${options.keyPrefix}${key}:${counter.window}` }];
    });
    dirty.clear();
    const pipeline = redis.pipeline();
    for (const item of batch) {
      pipeline.incrby(item.redisKey, item.sent);
      pipeline.pexpire(item.redisKey, item.counter.timeWindow * 2);
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      batch.forEach((item, i) => {
        const [error, total] = results[i * 2] ?? [new Error("no reply")];
        item.counter.inflight -= item.sent;
        if (error) {
          item.counter.unsynced += item.sent;
          dirty.add(item.key);
        } else item.counter.shared = Math.max(item.counter.shared, Number(total));
      });
    } catch (error) {
      for (const item of batch) {
        item.counter.inflight -= item.sent;
        item.counter.unsynced += item.sent;
        dirty.add(item.key);
      }
      options.onSyncError?.(error);
    } finally {
      syncing = false;
    }
  }

  const timer = setInterval(() => void sync(), options.syncIntervalMs);
  timer.unref();

  const store = (prefix: string): RateStore => ({
    incr(key, done, timeWindow) {
      const now = Date.now();
      const full = prefix + key;
      const counter = counterOf(full, timeWindow, now);
      counter.unsynced += 1;
      dirty.add(full);
      done(null, answer(counter, now));
    },
    read(key, done, timeWindow) {
      const now = Date.now();
      done(null, answer(counterOf(prefix + key, timeWindow, now), now));
    },
    child(route) {
      const given = Array.isArray(route.routeInfo?.method)
        ? route.routeInfo.method.join(",")
        : route.routeInfo?.method;
      // A GET's automatic HEAD route runs the same handler (the same upstream call): one counter.
      const method = given === "HEAD" ? "GET" : given;
      return store(route.routeInfo?.url ? `${prefix}${method} ${route.routeInfo.url}|` : prefix);
    },
  });

  return {
    /** The root store (routes without their own settings); routes get children by their URL. */
    store: store(""),
    /** Pushes what is pending now (tests, shutdown). */
    sync,
    stop() {
      clearInterval(timer);
    },
  };
}
