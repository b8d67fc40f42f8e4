import { resourceExhausted } from "@parley/kit/errors";
import type { Logger } from "@parley/kit/log";
import type { Notification } from "./model";
import type { NotificationFeed } from "./ports";

/**
 * WatchMe: a person's notifications, stored then live, the pattern of session's
 * WatchSession (services/session/src/domain/watch.ts) over per-person seqs.
 */

/** A live watcher as the catch-up check sees it. */
interface Watcher {
  /** The last stored seq it has delivered. */
  lastSeq(): bigint;
  /** The store holds notifications up to `seq` that it has not delivered: fetch and send them. */
  behind(seq: bigint): void;
}

export interface CatchUpDeps {
  feed: Pick<NotificationFeed, "isLive" | "onInterruption">;
  /** The last stored seq of each person asked for. */
  lastSeqs(userIds: string[]): Promise<Map<string, bigint>>;
  /** How often watchers are checked while the feed is down. */
  pollMs: number;
  /** How often while it is up: a publish another instance had to drop shows no gap until the next one. */
  checkMs: number;
  log: Logger;
}

export type CatchUp = ReturnType<typeof createCatchUp>;

/** People one check reads at a time. */
const CHECK_CHUNK = 1_000;

/**
 * Finds the watchers of this instance whose live feed missed notifications, with one query
 * per chunk of people: every `pollMs` while the feed is down, every `checkMs` while it is up,
 * and at once whenever the feed reports an interruption. A watcher behind its person's last
 * stored seq catches up from the store.
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
      for (const [userId, seq] of stored)
        for (const watcher of watched.get(userId) ?? []) if (seq > watcher.lastSeq()) watcher.behind(seq);
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
    register(userId: string, watcher: Watcher): () => void {
      const set = watched.get(userId) ?? new Set<Watcher>();
      watched.set(userId, set);
      set.add(watcher);
      return () => {
        set.delete(watcher);
        if (set.size === 0 && watched.get(userId) === set) watched.delete(userId);
      };
    },
    check,
    close() {
      clearInterval(timer);
      stopListening();
    },
  };
}

export interface WatchDeps {
  feed: Pick<NotificationFeed, "subscribe">;
  catchUp: Pick<CatchUp, "register">;
  /** Stored notifications after `afterSeq` (up to `uptoSeq`), in seq order. */
  between(userId: string, afterSeq: bigint, uptoSeq?: bigint): Promise<Notification[]>;
  heartbeatMs: number;
}

/** Live notifications a watcher may have waiting before it is ended as too slow. */
const MAX_PENDING = 1000;

/**
 * Streams a person's notifications to one watcher until `signal` aborts: subscribe first
 * (live ones buffer), replay from the store after `afterSeq`, then the buffer and live ones,
 * skipping any seq already sent. A live notification that jumps ahead is preceded by the
 * missing ones read from the store; ones lost with nothing after them are found by the
 * catch-up check. `write(undefined)` is a heartbeat.
 */
export async function watchMe(
  deps: WatchDeps,
  userId: string,
  afterSeq: bigint,
  write: (notification: Notification | undefined) => Promise<void>,
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
  /** Sends the stored notifications after lastSeq (up to `upto`), page by page until none is left. */
  const fill = async (upto?: bigint) => {
    for (;;) {
      if (failed || (upto !== undefined && upto <= lastSeq)) return;
      const before = lastSeq;
      for (const missing of await deps.between(userId, lastSeq, upto)) {
        if (missing.seq <= lastSeq) continue;
        await write(missing);
        lastSeq = missing.seq;
      }
      if (lastSeq === before) return;
    }
  };
  const deliver = async (notification: Notification) => {
    if (notification.seq <= lastSeq) return;
    await fill(notification.seq - 1n);
    await write(notification);
    lastSeq = notification.seq;
  };

  let replaying = true;
  const buffered: Notification[] = [];
  const unsubscribe = await deps.feed.subscribe(userId, (notification) => {
    if (!replaying) enqueue(() => deliver(notification));
    else if (buffered.length < MAX_PENDING) buffered.push(notification);
    else tooSlow();
  });
  const unregister = deps.catchUp.register(userId, {
    lastSeq: () => lastSeq,
    behind: (seq) => {
      if (!replaying) enqueue(() => fill(seq));
    },
  });
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    await fill();
    replaying = false;
    for (const notification of buffered.splice(0)) enqueue(() => deliver(notification));
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
