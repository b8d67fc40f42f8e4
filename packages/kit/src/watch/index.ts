import { resourceExhausted } from "../errors";
import type { Logger } from "../log";

/**
 * Resumable streams over a per-key sequence (a session's events, a person's notifications):
 * stored first, then live, every stored seq delivered exactly once and in order whether or
 * not the live feed works. Items with seq 0 are unsequenced (never stored) and pass straight
 * through.
 */
export interface Sequenced {
  seq: bigint;
}

/** The live side of a stream, as the service's bus adapter provides it. */
export interface LiveFeed<T> {
  /** Resolves once live (or at once while the feed is down); returns the unsubscribe. */
  subscribe(key: string, onItem: (item: T) => void): Promise<() => Promise<void>>;
  /** False while live delivery is known to be broken. */
  isLive(): boolean;
  /** Called whenever live delivery may have skipped items (lost, and again once back). */
  onInterruption(listener: () => void): () => void;
}

/** A live watcher as the catch-up check sees it. */
interface Watcher {
  /** The last stored seq it has delivered. */
  lastSeq(): bigint;
  /** The store holds items up to `seq` that it has not delivered: fetch and send them. */
  behind(seq: bigint): void;
}

export interface CatchUpDeps {
  feed: Pick<LiveFeed<unknown>, "isLive" | "onInterruption">;
  /** The last stored seq of each key asked for. */
  lastSeqs(keys: string[]): Promise<Map<string, bigint>>;
  /** How often watchers are checked while the feed is down. */
  pollMs: number;
  /** How often while it is up: a publish another instance had to drop shows no gap until the next item. */
  checkMs: number;
  log: Logger;
}

export type CatchUp = ReturnType<typeof createCatchUp>;

/** Keys one check reads at a time. */
const CHECK_CHUNK = 1_000;

/**
 * Finds the watchers of this instance whose live feed missed items, with one query per
 * chunk of keys: every `pollMs` while the feed is down (the store is then the feed), every
 * `checkMs` while it is up, and at once whenever the feed reports an interruption (lost,
 * and back). A watcher behind its key's last stored seq catches up from the store.
 */
export function createCatchUp(deps: CatchUpDeps) {
  const watched = new Map<string, Set<Watcher>>();
  let lastCheck = Date.now();
  let checking: Promise<void> | undefined;
  /** Asked for while a check ran: that one may have read the store before what is asked about. */
  let again = false;

  async function checkAll() {
    lastCheck = Date.now();
    const keys = [...watched.keys()];
    for (let i = 0; i < keys.length; i += CHECK_CHUNK) {
      const stored = await deps.lastSeqs(keys.slice(i, i + CHECK_CHUNK));
      for (const [key, seq] of stored)
        for (const watcher of watched.get(key) ?? []) if (seq > watcher.lastSeq()) watcher.behind(seq);
    }
  }

  const check = (): Promise<void> => {
    if (checking !== undefined) {
      again = true;
      return checking;
    }
    checking = checkAll()
      .catch((error: unknown) => deps.log.warn({ err: error }, "watch catch-up check failed"))
      .finally(() => {
        checking = undefined;
        if (again) {
          again = false;
          void check();
        }
      });
    return checking;
  };

  const timer = setInterval(() => {
    // A tick finding a check running skips (the next tick comes soon): no rerun asked for.
    if (checking !== undefined) return;
    if (watched.size > 0 && (!deps.feed.isLive() || Date.now() - lastCheck >= deps.checkMs)) void check();
  }, deps.pollMs);
  timer.unref();
  const stopListening = deps.feed.onInterruption(() => void check());

  return {
    /** Adds a watcher to the checks; the returned function removes it. */
    register(key: string, watcher: Watcher): () => void {
      const set = watched.get(key) ?? new Set<Watcher>();
      watched.set(key, set);
      set.add(watcher);
      return () => {
        set.delete(watcher);
        if (set.size === 0 && watched.get(key) === set) watched.delete(key);
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

export interface WatchDeps<T extends Sequenced> {
  feed: Pick<LiveFeed<T>, "subscribe">;
  catchUp: Pick<CatchUp, "register">;
  /** Stored items after `afterSeq` (up to `uptoSeq`), in seq order; may return one page at a time. */
  between(key: string, afterSeq: bigint, uptoSeq?: bigint): Promise<T[]>;
  heartbeatMs: number;
}

/** Live items a watcher may have waiting for its stream before it is ended as too slow. */
const MAX_PENDING = 1000;

/**
 * Streams a key's items to one watcher until `signal` aborts: subscribe first (live items
 * buffer), replay from the store after `afterSeq`, then deliver the buffer and live items,
 * skipping any seq already sent. A live item that jumps ahead (instances publish in any
 * order, or the feed lost one) is preceded by the missing stored items read from the store;
 * items lost with nothing after them are found by the catch-up check. Once the replay is out,
 * `write(undefined)` is a heartbeat every `heartbeatMs`, so what a watcher missed always
 * comes first. A watcher that cannot keep up is ended (`WATCHER_TOO_SLOW`) rather than
 * buffered for without bound; it reconnects with its last seq.
 */
export async function watchStream<T extends Sequenced>(
  deps: WatchDeps<T>,
  key: string,
  afterSeq: bigint,
  write: (item: T | undefined) => Promise<void>,
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
  const tooSlow = () =>
    fail(resourceExhausted("WATCHER_TOO_SLOW", "the watcher fell behind; reconnect with after_seq"));
  const enqueue = (task: () => Promise<void>) => {
    if (pending >= MAX_PENDING) return tooSlow();
    pending += 1;
    chain = chain
      .then(task)
      .catch(fail)
      .finally(() => {
        pending -= 1;
      });
  };
  /** Sends the stored items after lastSeq (up to `upto`), page by page until none is left. */
  const fill = async (upto?: bigint) => {
    for (;;) {
      if (failed || (upto !== undefined && upto <= lastSeq)) return;
      const before = lastSeq;
      for (const missing of await deps.between(key, lastSeq, upto)) {
        if (missing.seq <= lastSeq) continue;
        await write(missing);
        lastSeq = missing.seq;
      }
      if (lastSeq === before) return;
    }
  };
  const deliver = async (item: T) => {
    if (item.seq === 0n) return write(item);
    if (item.seq <= lastSeq) return;
    await fill(item.seq - 1n);
    await write(item);
    lastSeq = item.seq;
  };

  let replaying = true;
  const buffered: T[] = [];
  const unsubscribe = await deps.feed.subscribe(key, (item) => {
    if (!replaying) enqueue(() => deliver(item));
    else if (buffered.length < MAX_PENDING) buffered.push(item);
    else tooSlow();
  });
  const unregister = deps.catchUp.register(key, {
    lastSeq: () => lastSeq,
    behind: (seq) => {
      if (!replaying) enqueue(() => fill(seq));
    },
  });
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    await fill();
    replaying = false;
    for (const item of buffered.splice(0)) enqueue(() => deliver(item));
    heartbeat = setInterval(() => enqueue(() => write(undefined)), deps.heartbeatMs);
    heartbeat.unref();
    await stopped;
    if (failed && !signal.aborted) throw failed;
  } finally {
    clearInterval(heartbeat);
    unregister();
    await unsubscribe();
  }
}
