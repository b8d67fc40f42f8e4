import { EventEmitter } from "node:events";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../log";
import { connectRedis } from "../redis";

/**
 * Fan-out of live events between instances: Redis pub/sub when REDIS_URL is set, an
 * in-process emitter otherwise (one instance of each service). Delivery is at most once;
 * anything that must not be lost is written to Postgres first and replayed from there.
 *
 * Publishing never slows the caller: `publish` returns at once and never throws. Messages wait
 * in a bounded buffer for Redis; what cannot be sent (buffer full, Redis unreachable, a
 * command that fails) is dropped and counted in `bus_publish_dropped_total{reason}`.
 * Subscribers learn that live delivery may have skipped messages through `onInterruption`.
 */
export interface Bus {
  /** Fire-and-forget: queues the message and returns; never waits on Redis, never throws. */
  publish(topic: string, message: Buffer): void;
  /**
   * Resolves once the subscription is live, or at once while the bus is down (the
   * subscription is made when Redis is back); the returned function unsubscribes.
   */
  subscribe(topic: string, onMessage: (message: Buffer) => void): Promise<() => Promise<void>>;
  /** False while live delivery is known to be broken (Redis unreachable). */
  isLive(): boolean;
  /**
   * Calls `listener` whenever live delivery may have skipped messages: when the connection
   * is lost, and again once it is back and every subscription is live again. Returns a
   * function that stops the calls.
   */
  onInterruption(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface BusOptions {
  log?: Logger;
  /** Where the bus's metrics go (the service's registry); unregistered when absent. */
  registry?: Registry;
  /** Messages that may wait for Redis at once; more are dropped (default 10,000). */
  bufferSize?: number;
}

export type DropReason = "buffer_full" | "unavailable" | "failed";

export function createBus(redisUrl: string | undefined, options: BusOptions = {}): Bus {
  return redisUrl ? createRedisBus(redisUrl, options) : createInProcessBus();
}

export function createInProcessBus(): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish(topic, message) {
      emitter.emit(topic, message);
    },
    async subscribe(topic, onMessage) {
      emitter.on(topic, onMessage);
      return async () => {
        emitter.off(topic, onMessage);
      };
    },
    isLive: () => true,
    onInterruption: () => () => {},
    async close() {
      emitter.removeAllListeners();
    },
  };
}

/** Pipelines sent to Redis and not yet answered; beyond this, messages wait in the buffer. */
const MAX_IN_FLIGHT = 8;
/** Messages per pipeline (one write to the socket). */
const BATCH = 500;

export function createRedisBus(url: string, options: BusOptions = {}): Bus {
  const { log } = options;
  const bufferSize = options.bufferSize ?? 10_000;
  const registers = options.registry ? [options.registry] : [];
  const dropped = new Counter({
    name: "bus_publish_dropped_total",
    help: "Live events the bus did not send (subscribers catch up from Postgres), by reason",
    labelNames: ["reason"],
    registers,
  });
  const buffered = new Gauge({
    name: "bus_publish_buffered",
    help: "Live events waiting to be sent to Redis",
    registers,
  });
  const publisher = connectRedis(url, { name: "bus publisher", log });
  // Its "ready" handler subscribes the topics wanted then: a topic released while Redis was away
  // (its UNSUBSCRIBE could not be sent) is not subscribed again.
  const subscriber = connectRedis(url, { name: "bus subscriber", log, autoResubscribe: false });
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const interruptions = new Set<() => void>();
  const interrupted = () => {
    for (const listener of interruptions) listener();
  };

  const queue: Array<{ topic: string; message: Buffer }> = [];
  let inFlight = 0;
  let scheduled = false;
  let closed = false;
  const drop = (reason: DropReason, count = 1) => dropped.inc({ reason }, count);
  /** Sends what waits in pipelines: messages published in one turn of the event loop go out together. */
  const pump = () => {
    scheduled = false;
    while (inFlight < MAX_IN_FLIGHT && queue.length > 0) {
      if (publisher.status !== "ready") {
        // Nothing waits behind a dead server: what is buffered now is dropped, not held.
        drop("unavailable", queue.length);
        queue.length = 0;
        break;
      }
      const batch = queue.splice(0, BATCH);
      const pipeline = publisher.pipeline();
      for (const { topic, message } of batch) pipeline.publish(topic, message);
      inFlight += 1;
      pipeline
        .exec()
        .then(
          (results) => {
            const failed = (results ?? []).filter(([error]) => error).length;
            if (failed > 0) drop("failed", failed);
          },
          () => drop("failed", batch.length),
        )
        .finally(() => {
          inFlight -= 1;
          pump();
        });
    }
    buffered.set(queue.length);
  };

  /** Per topic: how many local listeners wait on it. */
  const topics = new Map<string, number>();
  let live = false;
  subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
    local.emit(channel.toString(), message);
  });
  subscriber.on("close", () => {
    if (!live) return;
    live = false;
    interrupted();
  });
  subscriber.on("ready", () => {
    // Every topic wanted, including those asked for while Redis was away; then the
    // subscribers catch up on what they missed meanwhile.
    const wanted = [...topics.keys()];
    (wanted.length > 0 ? subscriber.subscribe(...wanted) : Promise.resolve()).then(
      () => {
        if (subscriber.status !== "ready" || closed) return;
        live = true;
        interrupted();
      },
      (error: unknown) => log?.warn({ err: error }, "bus resubscribe failed; retrying at the next reconnect"),
    );
  });

  const release = async (topic: string, onMessage: (message: Buffer) => void) => {
    local.off(topic, onMessage);
    const listeners = (topics.get(topic) ?? 0) - 1;
    if (listeners > 0) {
      topics.set(topic, listeners);
      return;
    }
    topics.delete(topic);
    if (subscriber.status === "ready") await subscriber.unsubscribe(topic).catch(() => undefined);
  };

  return {
    publish(topic, message) {
      if (closed) return;
      if (queue.length >= bufferSize) {
        drop("buffer_full");
        return;
      }
      queue.push({ topic, message });
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(pump);
      }
    },
    async subscribe(topic, onMessage) {
      local.on(topic, onMessage);
      const listeners = topics.get(topic) ?? 0;
      topics.set(topic, listeners + 1);
      // "Live" must mean live for each subscriber, so each waits for SUBSCRIBE; a failure
      // leaves the subscription to the next reconnect, and the caller sees isLive() false.
      if (subscriber.status === "ready")
        await subscriber.subscribe(topic).catch((error: unknown) => {
          log?.warn({ err: error, topic }, "bus subscribe failed; live again at the next reconnect");
        });
      return () => release(topic, onMessage);
    },
    isLive: () => live && subscriber.status === "ready",
    onInterruption(listener) {
      interruptions.add(listener);
      return () => interruptions.delete(listener);
    },
    async close() {
      closed = true;
      drop("unavailable", queue.length);
      queue.length = 0;
      buffered.set(0);
      interruptions.clear();
      local.removeAllListeners();
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
