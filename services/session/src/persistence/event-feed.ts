import type { Bus } from "@parley/kit/bus";
import type { Logger } from "@parley/kit/log";
import type { SessionEvent } from "../domain/model";
import type { EventFeed } from "../domain/ports";
import { decodeEventBody, encodeEventBody } from "./codec";

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

/** Session events over the kit bus, one topic per session. */
export function busEventFeed(bus: Bus, log: Logger): EventFeed {
  return {
    publish: (event) => bus.publish(sessionTopic(event.sessionId), encodeBusEvent(event)),
    subscribe: (sessionId, onEvent) =>
      bus.subscribe(sessionTopic(sessionId), (message) => {
        let event: SessionEvent;
        try {
          event = decodeBusEvent(message);
        } catch (error) {
          log.warn({ err: error, sessionId }, "dropped an unreadable live event");
          return;
        }
        onEvent(event);
      }),
    isLive: () => bus.isLive(),
    onInterruption: (listener) => bus.onInterruption(listener),
  };
}
