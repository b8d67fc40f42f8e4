import { connectRedis } from "@parley/kit/redis";
import type { PresenceStore } from "../domain/ports";

/**
 * Single-instance presence: online until an expiry read from the injected clock. Reads check
 * only the ids asked about; expired entries are swept once the map has doubled since the last
 * sweep, so a read never walks every online person.
 */
export function createInProcessPresence(ttlSeconds: number, now: () => Date): PresenceStore {
  const expiries = new Map<string, number>();
  let sizeAfterSweep = 1024;
  const isOnline = (userId: string) => (expiries.get(userId) ?? 0) > now().getTime();
  const sweep = () => {
    const at = now().getTime();
    for (const [userId, expiresAt] of expiries) if (expiresAt <= at) expiries.delete(userId);
    sizeAfterSweep = Math.max(1024, expiries.size);
  };
  return {
    async heartbeat(userId) {
      const expiresAt = now().getTime() + ttlSeconds * 1000;
      expiries.set(userId, expiresAt);
      if (expiries.size > 2 * sizeAfterSweep) sweep();
      return new Date(expiresAt);
    },
    async signOff(userId) {
      expiries.delete(userId);
    },
    async onlineAmong(userIds) {
      return new Set(userIds.filter(isOnline));
    },
    async close() {
      expiries.clear();
    },
  };
}

/** Presence shared by every instance: one Redis key per online user that expires by itself (PX). */
export function createRedisPresence(
  redisUrl: string,
  ttlSeconds: number,
  keyPrefix = "parley:presence:",
): PresenceStore {
  const redis = connectRedis(redisUrl, { name: "presence" });
  const key = (userId: string) => `${keyPrefix}${userId}`;
  return {
    async heartbeat(userId) {
      await redis.set(key(userId), "1", "PX", ttlSeconds * 1000);
      return new Date(Date.now() + ttlSeconds * 1000);
    },
    async signOff(userId) {
      await redis.del(key(userId));
    },
    async onlineAmong(userIds) {
      if (userIds.length === 0) return new Set();
      const values = await redis.mget(...userIds.map(key));
      return new Set(userIds.filter((_, i) => values[i] !== null));
    },
    async close() {
      await redis.quit();
    },
  };
}
