import { type WatchDeps as StreamDeps, watchStream } from "@parley/kit/watch";
import type { SessionEvent } from "./model";

export interface WatchDeps extends Omit<StreamDeps<SessionEvent>, "between"> {
  eventsBetween: StreamDeps<SessionEvent>["between"];
  now: () => Date;
}

/**
 * WatchSession: a session's events, stored then live, exactly once and in order (the kit's
 * resumable stream over the session's seqs), with a heartbeat event (seq 0) while nothing
 * happens.
 */
export function watchSession(
  deps: WatchDeps,
  sessionId: string,
  afterSeq: bigint,
  write: (event: SessionEvent) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  return watchStream(
    { ...deps, between: deps.eventsBetween },
    sessionId,
    afterSeq,
    (event) => write(event ?? { seq: 0n, sessionId, occurredAt: deps.now(), body: { type: "heartbeat" } }),
    signal,
  );
}
