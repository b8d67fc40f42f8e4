import { EventEmitter } from "node:events";
import { Redis } from "ioredis";

/**
 * Fan-out of live events between instances: Redis pub/sub when REDIS_URL is set, an
 * in-process emitter otherwise (one instance of each service). Delivery is at most once;
 * anything that must not be lost is written to Postgres first and replayed from there.
 */
export interface Bus {
  publish(topic: string, message: Buffer): Promise<void>;
  /** Resolves once the subscription is live; the returned function unsubscribes. */
  subscribe(topic: string, onMessage: (message: Buffer) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export function createBus(redisUrl: string | undefined): Bus {
  return redisUrl ? createRedisBus(redisUrl) : createInProcessBus();
}

export function createInProcessBus(): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(topic, message) {
      emitter.emit(topic, message);
    },
    async subscribe(topic, onMessage) {
      emitter.on(topic, onMessage);
      return async () => {
        emitter.off(topic, onMessage);
      };
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export function createRedisBus(url: string): Bus {
  const publisher = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const subscriber = new Redis(url, { lazyConnect: false });
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const counts = new Map<string, number>();
  subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
    local.emit(channel.toString(), message);
  });
  return {
    async publish(topic, message) {
      await publisher.publish(topic, message);
    },
    async subscribe(topic, onMessage) {
      local.on(topic, onMessage);
      const count = counts.get(topic) ?? 0;
      counts.set(topic, count + 1);
      if (count === 0) await subscriber.subscribe(topic);
      return async () => {
        local.off(topic, onMessage);
        const remaining = (counts.get(topic) ?? 1) - 1;
        if (remaining > 0) {
          counts.set(topic, remaining);
          return;
        }
        counts.delete(topic);
        await subscriber.unsubscribe(topic);
      };
    },
    async close() {
      local.removeAllListeners();
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
