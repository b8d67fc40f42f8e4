import { resourceExhausted } from "@parley/kit/errors";
import type { Logger } from "@parley/kit/log";
import type { SessionEvent } from "./model";
import type { EventFeed } from "./ports";

/** A live watcher as the catch-up check sees it. */
interface Watcher {
  /** The last stored seq it has delivered. */
  lastSeq(): bigint;
  /** The store holds events up to `seq` that it has not delivered: fetch and send them. */
  behind(seq: bigint): void;
}

export interface CatchUpDeps {
  feed: Pick<EventFeed, "isLive" | "onInterruption">;
  /** The last stored seq of each session asked for. */
  lastSeqs(sessionIds: string[]): Promise<Map<string, bigint>>;
  /** How often watchers are checked while the feed is down. */
  pollMs: number;
  /** How often while it is up: a publish another instance had to drop shows no gap until the next event. */
  checkMs: number;
  log: Logger;
}

export type CatchUp = ReturnType<typeof createCatchUp>;

/** Sessions one check reads at a time. */
const CHECK_CHUNK = 1_000;

/**
 * Finds the watchers of this instance whose live feed missed events, with one query for
 * all of them: every `pollMs` while the feed is down (the store is then the feed), every
 * `checkMs` while it is up, and at once whenever the feed reports an interruption (lost,
 * and back). A watcher behind its session's last stored seq catches up from the store.
 */
export function createCatchUp(deps: CatchUpDeps) {
  const watched = new Map<string, Set<Watcher>>();
  let lastCheck = Date.now();
  let checking: Promise<void> | undefined;

  async function checkAll() {
    lastCheck = Date.now();
    const ids = [...watched.keys()];
    for (let i = 0; i < ids.length; i += CHECK_CHUNK) {
      const stored = await deps.lastSeqs(ids.slice(i, i + CHECK_CHUNK));
      for (const [sessionId, seq] of stored)
        for (const watcher of watched.get(sessionId) ?? []) if (seq > watcher.lastSeq()) watcher.behind(seq);
    }
  }

  const check = () => {
    checking ??= checkAll()
      .catch((error: unknown) => deps.log.warn({ err: error }, "watch catch-up check failed"))
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };

  const timer = setInterval(() => {
    if (watched.size > 0 && (!deps.feed.isLive() || Date.now() - lastCheck >= deps.checkMs)) void check();
  }, deps.pollMs);
  timer.unref();
  const stopListening = deps.feed.onInterruption(() => void check());

  return {
    /** Adds a watcher to the checks; the returned function removes it. */
    register(sessionId: string, watcher: Watcher): () => void {
      const set = watched.get(sessionId) ?? new Set<Watcher>();
      watched.set(sessionId, set);
      set.add(watcher);
      return () => {
        set.delete(watcher);
        if (set.size === 0 && watched.get(sessionId) === set) watched.delete(sessionId);
      };
    },
    /** One check now (tests, and the feed coming back). */
    check,
    close() {
      clearInterval(timer);
      stopListening();
    },
  };
}

export interface WatchDeps {
  feed: Pick<EventFeed, "subscribe">;
  catchUp: Pick<CatchUp, "register">;
  eventsBetween(sessionId: string, afterSeq: bigint, uptoSeq?: bigint): Promise<SessionEvent[]>;
  heartbeatMs: number;
  now: () => Date;
}

/**
 * Streams a session's events to one watcher until `signal` aborts: subscribe first (live
 * events buffer), replay from the store after `afterSeq`, then deliver the buffer and live
 * events, skipping any seq already sent. A live event that jumps ahead (instances publish
 * in any order, or the feed lost one) is preceded by the missing stored events read from the
 * store; events lost with nothing after them are found by the catch-up check. So the watcher
 * sees every stored seq exactly once and in order, whether or not the live feed works.
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
  // reconnects with its last seq and catches up from the store.
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
  /** Sends the stored events after lastSeq up to `upto`, from the store. */
  const fill = async (upto: bigint) => {
    if (upto <= lastSeq) return;
    for (const missing of await deps.eventsBetween(sessionId, lastSeq, upto)) {
      if (missing.seq <= lastSeq) continue;
      await write(missing);
      lastSeq = missing.seq;
    }
  };
  const deliver = async (event: SessionEvent) => {
    if (event.seq === 0n) return write(event);
    if (event.seq <= lastSeq) return;
    await fill(event.seq - 1n);
    await write(event);
    lastSeq = event.seq;
  };

  let replaying = true;
  const buffered: SessionEvent[] = [];
  const unsubscribe = await deps.feed.subscribe(sessionId, (event) => {
    if (!replaying) enqueue(() => deliver(event));
    else if (buffered.length < MAX_PENDING_EVENTS) buffered.push(event);
    else tooSlow();
  });
  const unregister = deps.catchUp.register(sessionId, {
    lastSeq: () => lastSeq,
    behind: (seq) => {
      if (!replaying) enqueue(() => fill(seq));
    },
  });
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    for (const event of await deps.eventsBetween(sessionId, afterSeq)) {
      if (failed) break;
      await deliver(event);
    }
    replaying = false;
    for (const event of buffered.splice(0)) enqueue(() => deliver(event));
    // Heartbeats only once the replay is out: what a watcher missed always comes first.
    heartbeat = setInterval(
      () => enqueue(() => write({ seq: 0n, sessionId, occurredAt: deps.now(), body: { type: "heartbeat" } })),
      deps.heartbeatMs,
    );
    heartbeat.unref();
    await stopped;
    if (failed && !signal.aborted) throw failed;
  } finally {
    clearInterval(heartbeat);
    unregister();
    await unsubscribe();
  }
}

/** Live events a watcher may have waiting for its stream before it is ended as too slow. */
const MAX_PENDING_EVENTS = 1000;
