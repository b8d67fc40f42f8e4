import type { Logger } from "@parley/kit/log";
import type { SessionStore } from "../persistence/store";
import type { SessionRecord } from "./model";
import type { Clock } from "./ports";
import type { SessionRules, Sessions } from "./sessions";

export interface MeteringDeps {
  sessions: Sessions;
  store: SessionStore;
  now: Clock;
  rules: SessionRules;
  log: Logger;
  /** Rows one worker claims per transaction. */
  batchSize?: number;
}

export interface TickReport {
  charged: number;
  ended: number;
  expired: number;
  paused: number;
  settled: number;
}

/**
 * The metering worker. Every step claims rows with FOR UPDATE SKIP LOCKED, so any number
 * of instances tick side by side and never work on the same session at once.
 *
 * Exactly-once per minute: minute n of a session is charged while its row is locked, with
 * billing's idempotency key (session, n); `minutes_charged` becomes n only in the same
 * transaction, after billing answered. A worker that dies between claim and commit leaves
 * the row at n − 1 and unlocked: the next worker charges n again, billing returns the
 * original charge, and the counter advances. So charged minutes are always 1..N.
 */
export function createMetering(deps: MeteringDeps) {
  const { sessions, store, now, rules, log } = deps;
  const batchSize = deps.batchSize ?? 200;

  /** Claims batches until a short one: `step` returns how many claimed rows it moved on. */
  async function drain(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await step();
      total += claimed;
      if (claimed < batchSize) return total;
    }
  }

  async function chargeDue(at: Date): Promise<{ charged: number; ended: SessionRecord[] }> {
    let charged = 0;
    const ended: SessionRecord[] = [];
    await drain(() =>
      sessions.write(async (tx, emit) => {
        const due = await tx.claimDue(at, batchSize);
        const results = await Promise.allSettled(
          due.map((session) => sessions.chargeNextMinute(tx, emit, session, at)),
        );
        for (const result of results) {
          if (result.status === "rejected")
            // Left unchanged and unlocked at commit: the next tick retries the same minute.
            log.warn({ err: result.reason }, "charge failed; retrying next tick");
          else if (result.value.outcome === "ended") ended.push(result.value.session);
          else charged += 1;
        }
        // Failed rows do not count, so a billing outage ends this drain instead of spinning.
        return due.length - results.filter((r) => r.status === "rejected").length;
      }),
    );
    return { charged, ended };
  }

  async function pauseAway(at: Date): Promise<number> {
    const graceMs = rules.pauseGraceSeconds * 1000;
    return drain(() =>
      sessions.write(async (tx) => {
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
      sessions.write(async (tx, emit) => {
        const gone = await tx.claimAway(
          new Date(at.getTime() - rules.disconnectTimeoutSeconds * 1000),
          batchSize,
        );
        for (const session of gone) ended.push(await sessions.endInTx(tx, emit, session, "disconnected"));
        return gone.length;
      }),
    );
    return ended;
  }

  async function expireRequests(at: Date): Promise<number> {
    const experts = new Set<string>();
    const expired = await drain(() =>
      sessions.write(async (tx, emit) => {
        const stale = await tx.claimExpired(at, batchSize);
        for (const session of stale) {
          await sessions.transition(tx, emit, session, "expired", {
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
      await sessions.write(async (tx, emit) => {
        await tx.lockExpert(expertId);
        await sessions.pushQueuePositions(tx, expertId, emit);
      });
    return expired;
  }

  /** One pass over stopped sessions whose money is not settled yet; failures wait for the next tick. */
  async function settlePending(): Promise<number> {
    return store.transaction(async (tx) => {
      let settled = 0;
      for (const session of await tx.claimSettlement(batchSize)) {
        try {
          await sessions.settleLocked(tx, session);
          settled += 1;
        } catch (error) {
          log.warn({ err: error, sessionId: session.id }, "settlement failed; retrying next tick");
        }
      }
      return settled;
    });
  }

  return {
    /** One pass of every time-based rule, at the clock's now. */
    async tick(): Promise<TickReport> {
      const at = now();
      const paused = await pauseAway(at);
      const disconnected = await endDisconnected(at);
      const { charged, ended } = await chargeDue(at);
      const expired = await expireRequests(at);
      for (const session of [...disconnected, ...ended]) await sessions.reportLoad(session.expertId);
      const settled = await settlePending();
      for (const review of await store.reviewsToReport(batchSize)) await sessions.reportRating(review);
      return { charged, ended: disconnected.length + ended.length, expired, paused, settled };
    },
  };
}

/** Runs tick every intervalMs until stopped; a failed tick is logged and the next one retries. */
export function startMeteringLoop(
  metering: ReturnType<typeof createMetering>,
  intervalMs: number,
  log: Logger,
) {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    running = running.then(() =>
      stopped
        ? undefined
        : metering.tick().catch((error: unknown) => log.error({ err: error }, "metering tick failed")),
    );
  }, intervalMs);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
