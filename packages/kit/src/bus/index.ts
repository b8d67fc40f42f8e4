import { EventEmitter } from "node:events";
import type { Logger } from "../log";
import { connectRedis } from "../redis";

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

export function createBus(redisUrl: string | undefined, log?: Logger): Bus {
  return redisUrl ? createRedisBus(redisUrl, log) : createInProcessBus();
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

export function createRedisBus(url: string, log?: Logger): Bus {
  const publisher = connectRedis(url, { name: "bus publisher", log });
  const subscriber = connectRedis(url, { name: "bus subscriber", log });
  const local = new EventEmitter();
  local.setMaxListeners(0);
  /** Per topic: local listeners, and the one Redis SUBSCRIBE they all wait for. */
  const topics = new Map<string, { listeners: number; live: Promise<unknown> }>();
  subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
    local.emit(channel.toString(), message);
  });
  const release = async (topic: string, onMessage: (message: Buffer) => void) => {
    local.off(topic, onMessage);
    const entry = topics.get(topic);
    if (!entry) return;
    entry.listeners -= 1;
    if (entry.listeners > 0) return;
    topics.delete(topic);
    await subscriber.unsubscribe(topic);
  };
  return {
    async publish(topic, message) {
      await publisher.publish(topic, message);
    },
    async subscribe(topic, onMessage) {
      local.on(topic, onMessage);
      let entry = topics.get(topic);
      if (!entry) {
        entry = { listeners: 0, live: subscriber.subscribe(topic) };
        topics.set(topic, entry);
      }
      entry.listeners += 1;
      // Every subscriber waits for the one SUBSCRIBE: "live" must mean live for each of them.
      try {
        await entry.live;
      } catch (error) {
        if (topics.get(topic) === entry) topics.delete(topic);
        local.off(topic, onMessage);
        throw error;
      }
      return () => release(topic, onMessage);
    },
    async close() {
      local.removeAllListeners();
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
