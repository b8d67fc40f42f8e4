import type { Bus } from "@parley/kit/bus";
import { resourceExhausted } from "@parley/kit/errors";
import { decodeEventBody, encodeEventBody } from "../persistence/codec";
import type { SessionEvent } from "./model";

export const sessionTopic = (sessionId: string) => `parley.session.${sessionId}`;

export function encodeBusEvent(event: SessionEvent): Buffer {
  return Buffer.from(
    JSON.stringify({
      seq: event.seq.toString(),
      sessionId: event.sessionId,
      occurredAt: event.occurredAt.toISOString(),
      body: encodeEventBody(event.body),
    }),
  );
}

export function decodeBusEvent(buffer: Buffer): SessionEvent {
  const raw = JSON.parse(buffer.toString()) as {
    seq: string;
    sessionId: string;
    occurredAt: string;
    body: unknown;
  };
  return {
    seq: BigInt(raw.seq),
    sessionId: raw.sessionId,
    occurredAt: new Date(raw.occurredAt),
    body: decodeEventBody(raw.body),
  };
}

export interface WatchDeps {
  bus: Bus;
  eventsBetween(sessionId: string, afterSeq: bigint, uptoSeq?: bigint): Promise<SessionEvent[]>;
  heartbeatMs: number;
  now: () => Date;
}

/**
 * Streams a session's events to one watcher until `signal` aborts: subscribe first (live
 * events buffer), replay from Postgres after `afterSeq`, then deliver the buffer and live
 * events, skipping any seq already sent. A live event that jumps ahead (instances publish
 * in any order) is preceded by the missing stored events read from Postgres, so the
 * watcher sees every stored seq exactly once and in order.
 */
export async function watchSession(
  deps: WatchDeps,
  sessionId: string,
  afterSeq: bigint,
  write: (event: SessionEvent) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  let lastSeq = afterSeq;
  let chain: Promise<void> = Promise.resolve();
  let failed: unknown;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  if (signal.aborted) stop();
  else signal.addEventListener("abort", () => stop(), { once: true });
  const fail = (error: unknown) => {
    failed ??= error;
    stop();
  };
  let pending = 0;
  // A watcher that cannot keep up is ended rather than buffered for without bound; it
  // reconnects with its last seq and catches up from Postgres.
  const tooSlow = () =>
    fail(resourceExhausted("WATCHER_TOO_SLOW", "the watcher fell behind; reconnect with after_seq"));
  const enqueue = (task: () => Promise<void>) => {
    if (pending >= MAX_PENDING_EVENTS) return tooSlow();
    pending += 1;
    chain = chain
      .then(task)
      .catch(fail)
      .finally(() => {
        pending -= 1;
      });
  };
  const deliver = async (event: SessionEvent) => {
    if (event.seq === 0n) return write(event);
    if (event.seq <= lastSeq) return;
    if (event.seq > lastSeq + 1n) {
      for (const missing of await deps.eventsBetween(sessionId, lastSeq, event.seq - 1n)) {
        await write(missing);
        lastSeq = missing.seq;
      }
    }
    await write(event);
    lastSeq = event.seq;
  };

  let replaying = true;
  const buffered: SessionEvent[] = [];
  const unsubscribe = await deps.bus.subscribe(sessionTopic(sessionId), (message) => {
    const event = decodeBusEvent(message);
    if (!replaying) enqueue(() => deliver(event));
    else if (buffered.length < MAX_PENDING_EVENTS) buffered.push(event);
    else tooSlow();
  });
  const heartbeat = setInterval(
    () => enqueue(() => write({ seq: 0n, sessionId, occurredAt: deps.now(), body: { type: "heartbeat" } })),
    deps.heartbeatMs,
  );
  heartbeat.unref();
  try {
    for (const event of await deps.eventsBetween(sessionId, afterSeq)) {
      if (failed) break;
      await deliver(event);
    }
    replaying = false;
    for (const event of buffered.splice(0)) enqueue(() => deliver(event));
    await stopped;
    if (failed && !signal.aborted) throw failed;
  } finally {
    clearInterval(heartbeat);
    await unsubscribe();
  }
}

/** Live events a watcher may have waiting for its stream before it is ended as too slow. */
const MAX_PENDING_EVENTS = 1000;
