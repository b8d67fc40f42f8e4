import type { Logger } from "@parley/kit/log";
import { connectRedis, redisOr } from "@parley/kit/redis";
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

/**
 * Presence shared by every instance: one Redis key per online user that expires by itself (PX).
 * Every heartbeat is also kept in this instance's own memory, and while Redis does not answer,
 * presence degrades to that: people whose heartbeats reached this instance read as online, and
 * reports never fail for want of Redis.
 */
export function createRedisPresence(
  redisUrl: string,
  ttlSeconds: number,
  keyPrefix = "parley:presence:",
  log?: Logger,
): PresenceStore {
  const redis = connectRedis(redisUrl, { name: "presence", log });
  const viaRedisOr = redisOr(redis);
  const local = createInProcessPresence(ttlSeconds, () => new Date());
  const key = (userId: string) => `${keyPrefix}${userId}`;
  const done = async () => undefined;
  return {
    async heartbeat(userId) {
      const expiresAt = await local.heartbeat(userId);
      await viaRedisOr(async () => void (await redis.set(key(userId), "1", "PX", ttlSeconds * 1000)), done);
      return expiresAt;
    },
    async signOff(userId) {
      await local.signOff(userId);
      await viaRedisOr(async () => void (await redis.del(key(userId))), done);
    },
    async onlineAmong(userIds) {
      if (userIds.length === 0) return new Set();
      return viaRedisOr(
        async () => {
          const values = await redis.mget(...userIds.map(key));
          return new Set(userIds.filter((_, i) => values[i] !== null));
        },
        () => local.onlineAmong(userIds),
      );
    },
    async close() {
      redis.disconnect();
      await local.close();
    },
  };
}
