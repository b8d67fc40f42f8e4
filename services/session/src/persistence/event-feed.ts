import type { Bus } from "@parley/kit/bus";
import type { Logger } from "@parley/kit/log";
import type { SessionEvent } from "../domain/model";
import type { EventFeed } from "../domain/ports";
import { eventBodyJson, parseTagged } from "./codec";

export const sessionTopic = (sessionId: string) => `parley.session.${sessionId}`;

export function encodeBusEvent(event: SessionEvent): Buffer {
  return Buffer.from(
    `{"seq":"${event.seq}","sessionId":${JSON.stringify(event.sessionId)},"occurredAt":"${event.occurredAt.toISOString()}","body":${eventBodyJson(event.body)}}`,
  );
}

export function decodeBusEvent(buffer: Buffer): SessionEvent {
  const raw = parseTagged<{ seq: string; sessionId: string; occurredAt: string; body: SessionEvent["body"] }>(
    buffer.toString(),
  );
  return {
    seq: BigInt(raw.seq),
    sessionId: raw.sessionId,
    occurredAt: new Date(raw.occurredAt),
    body: raw.body,
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
