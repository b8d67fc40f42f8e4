import type { Logger } from "@parley/kit/log";
import { inParallel } from "@parley/kit/parallel";
import { SpanKind, tracingEnabled, withSpan } from "@parley/kit/tracing";
import { chunksByPayee } from "../domain/metering";
import type { MeteringClaim, SessionRecord } from "../domain/model";
import type { Sessions } from "../domain/sessions";

/** Reports to user (expert load, ratings) one tick sends at once. */
const REPORTS_AT_ONCE = 16;

export interface MeteringWorkerOptions {
  /** Sessions claimed and charged per ChargeBatch (at most 1,000, billing's limit). */
  chunkSize?: number;
  /** Chunks one instance has in flight at once (claim → ChargeBatch → record). */
  parallelChunks?: number;
  /** Rows the other steps (pauses, disconnects, expiries, settlements) claim at a time. */
  batchSize?: number;
}

export interface TickReport {
  charged: number;
  ended: number;
  expired: number;
  paused: number;
  settled: number;
}

export type MeteringWorker = ReturnType<typeof createMeteringWorker>;

/**
 * The metering worker: every time-based rule of a session, one pass per tick (sides whose
 * heartbeats stopped go offline, pauses, disconnects, minutes, expiries, settlements). Each step
 * claims rows with FOR UPDATE SKIP LOCKED (minutes and settlements under a committed lease),
 * so any number of instances tick side by side and never work on the same session at once.
 */
export function createMeteringWorker(sessions: Sessions, log: Logger, options: MeteringWorkerOptions = {}) {
  const { core, metering, settlement, reviews, presence } = sessions.parts;
  const { store, now, rules } = core;
  const chunkSize = Math.min(options.chunkSize ?? 1_000, 1_000);
  const parallelChunks = options.parallelChunks ?? 4;
  const batchSize = options.batchSize ?? 200;

  /** Claims batches until a short one: `step` returns how many claimed rows it moved on. */
  async function drain(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await step();
      total += claimed;
      if (claimed < batchSize) return total;
    }
  }

  /**
   * While tracing is on, a chunk with minutes to charge is a trace of its own (`session.metering`):
   * its ChargeBatch call to billing, the outcomes recorded and the notifications they enqueue
   * (delivered later in the same trace) belong to it. A tick with nothing due makes no trace.
   */
  const traceChunk = <T>(claimed: number, work: () => Promise<T>): Promise<T> =>
    tracingEnabled()
      ? withSpan(
          "session.metering",
          { kind: SpanKind.INTERNAL, attributes: { "parley.metering.sessions": claimed } },
          work,
        )
      : work();

  /**
   * Every minute due at `at`, in rounds: a round claims up to `parallelChunks` × `chunkSize`
   * minutes (one committed claim), cuts them into chunks that pay disjoint experts (so chunks in
   * flight never queue on an expert's earnings row in billing) and sends one ChargeBatch per chunk,
   * `parallelChunks` at once. The next round's claim is taken while this round's ChargeBatches
   * are in flight, and a chunk's outcomes are recorded while the next ones are charged. Chunks
   * that do not fit a round (experts cut at chunk boundaries leave a small last chunk) go with
   * the next round, under their claim. A failure stops claiming; the rest is retried next tick.
   */
  async function chargeDue(at: Date): Promise<{ charged: number; ended: SessionRecord[] }> {
    const round = chunkSize * parallelChunks;
    let charged = 0;
    const ended: SessionRecord[] = [];
    const recording: Promise<void>[] = [];
    let failed = false;
    const warn = (error: unknown) => {
      failed = true;
      // Given back unresolved, or left to their lease: the next tick charges them again (billing
      // replays any it took).
      log.warn({ err: error }, "charging a chunk failed; retrying next tick");
    };
    let carried: MeteringClaim[] = [];
    let claiming: Promise<MeteringClaim[]> | undefined = metering.claimDue(at, round);
    let limit = round;
    while (claiming) {
      let claims: MeteringClaim[];
      try {
        claims = await claiming;
      } catch (error) {
        warn(error);
        claims = [];
      }
      const more = !failed && claims.length === limit;
      const chunks = chunksByPayee([...carried, ...claims], chunkSize);
      const batches = more ? chunks.slice(0, parallelChunks) : chunks;
      carried = more ? chunks.slice(parallelChunks).flat() : [];
      limit = round - carried.length;
      claiming = more ? metering.claimDue(at, limit) : undefined;
      // A chunk's slot is free once billing answered; its trace span lasts until it is recorded.
      await inParallel(
        batches,
        parallelChunks,
        (chunk) =>
          new Promise<void>((billed) => {
            recording.push(
              traceChunk(chunk.length, async () => {
                try {
                  const { recorded } = await metering.chargeClaims(chunk);
                  billed();
                  const result = await recorded;
                  charged += result.advanced.length;
                  ended.push(...result.ended);
                } catch (error) {
                  warn(error);
                } finally {
                  billed();
                }
              }),
            );
          }),
      );
      if (failed && claiming) {
        // Claimed for a round that will not run: given back at once rather than left to their lease.
        const unused = [...carried, ...(await claiming.catch(() => []))];
        await metering.release(unused).catch(warn);
        claiming = undefined;
      }
    }
    await Promise.all(recording);
    return { charged, ended };
  }

  async function pauseAway(at: Date): Promise<number> {
    const graceMs = rules.pauseGraceSeconds * 1000;
    return drain(() =>
      core.write(async (tx) => {
        const away = await tx.claimToPause(new Date(at.getTime() - graceMs), batchSize);
        for (const session of away)
          await tx.updateSession(session.id, { pausedAt: new Date(session.awaySince!.getTime() + graceMs) });
        return away.length;
      }),
    );
  }

  async function endDisconnected(at: Date): Promise<SessionRecord[]> {
    const ended: SessionRecord[] = [];
    await drain(() =>
      core.write(async (tx, emit) => {
        const before = new Date(at.getTime() - rules.disconnectTimeoutSeconds * 1000);
        // Away past the timeout, or a session accepted that long ago whose sides never both connected
        // (a call can be both: one side came and went).
        const away = await tx.claimAway(before, batchSize);
        const unstarted = await tx.claimNeverStarted(before, batchSize);
        const gone = [...away, ...unstarted.filter((call) => !away.some((s) => s.id === call.id))];
        for (const session of gone) ended.push(await core.endInTx(tx, emit, session, "disconnected"));
        return gone.length;
      }),
    );
    return ended;
  }

  async function expireRequests(at: Date): Promise<number> {
    const experts = new Set<string>();
    const expired = await drain(() =>
      core.write(async (tx, emit) => {
        const stale = await tx.claimExpired(at, batchSize);
        for (const session of stale) {
          await core.transition(tx, emit, session, "expired", {
            endReason: "expired",
            endedAt: at,
            settlementPending: true,
          });
          experts.add(session.expertId);
        }
        return stale.length;
      }),
    );
    // The next requests move up; a transaction per expert, under its lock (no deadlocks).
    for (const expertId of experts)
      await core.write(async (tx, emit) => {
        await tx.lockExpert(expertId);
        await core.pushQueuePositions(tx, expertId, emit);
      });
    return expired;
  }

  return {
    /** One pass of every time-based rule, at the clock's now. */
    async tick(): Promise<TickReport> {
      const at = now();
      await drain(() => presence.forgetSilent(at, batchSize));
      const paused = await pauseAway(at);
      const disconnected = await endDisconnected(at);
      const { charged, ended } = await chargeDue(at);
      const expired = await expireRequests(at);
      const stoppedExperts = new Set([...disconnected, ...ended].map((session) => session.expertId));
      // Reports to user go side by side (REPORTS_AT_ONCE): a slow user service costs a tick a
      // deadline or two, not one per report.
      await inParallel([...stoppedExperts], REPORTS_AT_ONCE, (expertId) => core.reportLoad(expertId));
      const settled = await settlement.settlePending(batchSize);
      await inParallel(await store.reviewsToReport(batchSize), REPORTS_AT_ONCE, (review) =>
        reviews.reportRating(review),
      );
      return { charged, ended: disconnected.length + ended.length, expired, paused, settled };
    },
  };
}

/**
 * Runs tick every intervalMs (from the end of one to the start of the next) until stopped; a
 * failed tick is logged and the next one retries. Stopping waits for a running tick at most
 * `stopWaitMs`: a tick cut short by shutdown is safe (claims run out and are taken over).
 */
export function startMeteringLoop(
  worker: MeteringWorker,
  intervalMs: number,
  log: Logger,
  stopWaitMs = 3_000,
) {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = worker
        .tick()
        .then(
          () => undefined,
          (error: unknown) => log.error({ err: error }, "metering tick failed"),
        )
        .finally(() => {
          if (!stopped) schedule();
        });
    }, intervalMs);
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([
      running,
      new Promise<void>((resolve) => {
        waited = setTimeout(resolve, stopWaitMs);
      }),
    ]);
    clearTimeout(waited);
  };
}
