import { Redis } from "ioredis";
import type { Logger } from "../log";

export type { Redis };

export interface RedisOptions {
  /** Names the connection in logs ("bus publisher", "attempt limiter"). */
  name: string;
  log?: Logger;
  /** A command that has no answer by then fails (default 500 ms). */
  commandTimeoutMs?: number;
  /**
   * Whether a subscriber's channels are subscribed again after a reconnect (ioredis's default):
   * off for one that subscribes what it still wants itself, so channels released while Redis
   * was away do not come back.
   */
  autoResubscribe?: boolean;
}

/**
 * The one way to reach Redis. Redis carries live fan-out and shared counters only, so a dead
 * or slow server must cost a caller one short timeout, never a wait behind a queue: every
 * command fails after `commandTimeoutMs` without an answer, including one sent while the
 * client is (re)connecting, and the commands waiting for a connection are dropped (failed) at
 * every failed connection attempt, so nothing piles up behind a dead server. The client keeps
 * reconnecting in the background (≤ 2 s apart). Connection changes are logged once per
 * change, not once per retry.
 */
export function connectRedis(url: string, options: RedisOptions): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    commandTimeout: options.commandTimeoutMs ?? 500,
    // Flush the commands waiting for a connection at every failed attempt (they have already
    // failed by their timeout): a fresh client can still take commands while it connects.
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    autoResubscribe: options.autoResubscribe ?? true,
  });
  let down = false;
  redis.on("error", (error: Error) => {
    if (down) return;
    down = true;
    options.log?.warn({ err: error, redis: options.name }, "redis unreachable; retrying in the background");
  });
  redis.on("ready", () => {
    if (!down) return;
    down = false;
    options.log?.info({ redis: options.name }, "redis reachable again");
  });
  return redis;
}

/** Client states in which a command cannot be answered: the connection was lost. */
const BROKEN = new Set(["reconnecting", "close", "end"]);

/**
 * Redis when it answers, something local otherwise: `viaRedis` runs unless the client has lost
 * its connection or a command failed in the last `pauseMs` (a hung server then costs one
 * command timeout, not one per call); `fallback` runs instead, and when `viaRedis` fails. For
 * counters and presence that must keep working — degraded to what Postgres or this instance
 * knows — while Redis is gone. A client still making its first connection is waited for (one
 * command timeout at most), so counters shared through Redis stay shared from the start.
 */
export function redisOr(redis: Redis, pauseMs = 1_000) {
  let pausedUntil = 0;
  return async <T>(viaRedis: () => Promise<T>, fallback: () => Promise<T>): Promise<T> => {
    if (BROKEN.has(redis.status) || Date.now() < pausedUntil) return fallback();
    try {
      return await viaRedis();
    } catch {
      pausedUntil = Date.now() + pauseMs;
      return fallback();
    }
  };
}
