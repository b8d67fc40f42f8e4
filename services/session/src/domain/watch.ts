import type { Bus } from "@parley/kit/bus";
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
  const enqueue = (task: () => Promise<void>) => {
    chain = chain.then(task).catch((error: unknown) => {
      failed ??= error;
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
    if (replaying) buffered.push(event);
    else enqueue(() => deliver(event));
  });
  const heartbeat = setInterval(
    () => enqueue(() => write({ seq: 0n, sessionId, occurredAt: deps.now(), body: { type: "heartbeat" } })),
    deps.heartbeatMs,
  );
  heartbeat.unref();
  try {
    for (const event of await deps.eventsBetween(sessionId, afterSeq)) await deliver(event);
    replaying = false;
    for (const event of buffered.splice(0)) enqueue(() => deliver(event));
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    if (failed && !signal.aborted) throw failed;
  } finally {
    clearInterval(heartbeat);
    await unsubscribe();
  }
}
