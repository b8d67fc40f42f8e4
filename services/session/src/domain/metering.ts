import type { Core } from "./core";
import type { EndReason, MeteredSession, MeteringClaim, SessionRecord } from "./model";
import { intentsFor } from "./notifications";
import type { ChargeOutcome, ClaimedEnd, ClaimedMinute, MinuteCharge } from "./ports";
import { unheardSince } from "./presence";

/** The next minute of a session, as billing charges it (key: session, minute). */
export const nextMinute = (session: MeteredSession): MinuteCharge => ({
  sessionId: session.id,
  minute: session.minutesCharged + 1,
  payerUserId: session.userId,
  payeeUserId: session.expertId,
  amountMinor: session.rateMinor,
  currency: session.currency,
  holdId: session.holdId,
});

/**
 * Whether an active session's next minute has started: by `at`, or for a paused session by the
 * time its pause began (a minute due before then was billed time, though not charged yet).
 */
export const minuteStarted = (session: MeteredSession, at: Date) =>
  session.status === "active" && !!session.nextChargeAt && session.nextChargeAt <= (session.pausedAt ?? at);

/** What billing's outcome for a claimed minute means for its session. */
export type MinutePlan = { kind: "advance"; minutesLeft: bigint } | { kind: "end"; reason: EndReason };

export function planMinute(outcome: ChargeOutcome): MinutePlan {
  switch (outcome.kind) {
    case "charged":
      return { kind: "advance", minutesLeft: outcome.minutesLeft };
    case "insufficient_funds":
      return { kind: "end", reason: "insufficient_funds" };
    // Billing will never take this minute (refused outright, or the session's invoice exists):
    // running on would serve it unpaid, and retrying would keep it first in every batch.
    // A frozen wallet pays nothing more: said as such, not as a billing fault.
    case "refused":
      return {
        kind: "end",
        reason: outcome.reason === "WALLET_FROZEN" ? "wallet_frozen" : "billing_refused",
      };
    case "settled":
      return { kind: "end", reason: "billing_refused" };
  }
}

/**
 * Claimed minutes cut into ChargeBatch chunks of at most `size` that pay disjoint sets of experts
 * (an expert with more than `size` minutes due is the only one that spans chunks): chunks charged
 * at the same time then never wait for each other on an expert's earnings row, which billing
 * moves once per batch in the batch's last step. Claims keep their order within an expert.
 */
export function chunksByPayee<T extends { session: { expertId: string } }>(
  claims: readonly T[],
  size: number,
): T[][] {
  const byExpert = new Map<string, T[]>();
  for (const claim of claims) {
    const group = byExpert.get(claim.session.expertId);
    if (group) group.push(claim);
    else byExpert.set(claim.session.expertId, [claim]);
  }
  const chunks: T[][] = [];
  let current: T[] = [];
  for (const expertId of [...byExpert.keys()].sort()) {
    let group = byExpert.get(expertId)!;
    if (current.length + group.length > size && current.length > 0) {
      chunks.push(current);
      current = [];
    }
    while (group.length > size) {
      chunks.push(group.slice(0, size));
      group = group.slice(size);
    }
    current.push(...group);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** When two minutes or fewer remain, the participants are warned. */
const LOW_BALANCE_MINUTES = 2n;

export type Metering = ReturnType<typeof createMetering>;

/**
 * Charging minutes under claims. A claim (a lease with an epoch) is committed before billing
 * is called and no transaction is open during the call; the outcomes are then recorded in one
 * transaction, each only while its row still carries the claim's epoch. Billing's key
 * (session, minute) makes a minute charged twice — by a worker whose lease was taken over, or
 * again after a crash anywhere — a replay of the first charge, so charged minutes are 1..N.
 */
export function createMetering(core: Core) {
  const { store, billing, now, rules, log } = core;

  /** Records billing's outcomes for claimed minutes in one transaction; returns what moved. */
  async function record(claims: MeteringClaim[], outcomes: ChargeOutcome[]) {
    const advance: ClaimedMinute[] = [];
    const end: ClaimedEnd[] = [];
    for (const [index, claim] of claims.entries()) {
      const outcome = outcomes[index]!;
      const plan = planMinute(outcome);
      const { session } = claim;
      const minute = session.minutesCharged + 1;
      if (outcome.kind === "refused" || outcome.kind === "settled")
        log.error({ sessionId: session.id, minute, outcome }, "billing refused a minute; ending the session");
      if (plan.kind === "end") {
        end.push({ sessionId: session.id, epoch: claim.epoch, reason: plan.reason });
        continue;
      }
      const { minutesLeft } = plan;
      advance.push({
        sessionId: session.id,
        epoch: claim.epoch,
        minute,
        minutesLeft,
        events: [
          {
            type: "minute_charged",
            minute,
            amountMinor: session.rateMinor,
            currency: session.currency,
            minutesLeft,
          },
          ...(minutesLeft <= LOW_BALANCE_MINUTES ? [{ type: "low_balance" as const, minutesLeft }] : []),
        ],
      });
    }
    const at = now();
    const recorded = await store.transaction(async (tx) => {
      const moved = await tx.advanceClaimed(advance, rules.minuteSeconds, at);
      const ended = await tx.endClaimed(end, at);
      const endEvents = await tx.appendEvents(
        ended.map((session) => ({
          sessionId: session.id,
          occurredAt: at,
          body: { type: "status_changed", session },
        })),
      );
      await tx.enqueueNotifications(endEvents.flatMap((event) => intentsFor(event.body)));
      return { moved, ended, events: [...moved.flatMap((m) => m.events), ...endEvents] };
    });
    // After commit and fire-and-forget, like every write's events.
    for (const event of recorded.events) core.feed.publish(event);
    return { advanced: recorded.moved.map((m) => m.session), ended: recorded.ended };
  }

  /** Gives claims up unresolved (not charged): the next tick charges those minutes again. */
  const release = (claims: MeteringClaim[]) =>
    store.transaction((tx) =>
      tx.releaseClaims(
        claims.map((claim) => ({ sessionId: claim.session.id, epoch: claim.epoch })),
        now(),
      ),
    );

  /**
   * One ChargeBatch for the claims' next minutes. When the call fails, its outcome is unknown:
   * the claims are given up unresolved (the next tick charges those minutes again, and billing
   * replays any it took) and the error is rethrown.
   */
  async function bill(claims: MeteringClaim[]): Promise<ChargeOutcome[]> {
    try {
      const outcomes = await billing.chargeBatch(claims.map((claim) => nextMinute(claim.session)));
      if (outcomes.length !== claims.length)
        throw new Error(`billing answered ${outcomes.length} outcomes for ${claims.length} minutes`);
      return outcomes;
    } catch (error) {
      await release(claims).catch((releaseError: unknown) =>
        log.warn({ err: releaseError }, "giving claims up failed; their leases run out instead"),
      );
      throw error;
    }
  }

  /** One ChargeBatch for the claims' next minutes, then their outcomes recorded. */
  async function charge(claims: MeteringClaim[]) {
    return record(claims, await bill(claims));
  }

  /** Claims (committed, under a lease) up to `limit` sessions with a minute to charge at `at`. */
  const claimDue = (at: Date, limit: number) =>
    store.transaction((tx) =>
      tx.claimDueMinutes(at, core.leaseUntil(now()), limit, unheardSince(core.rules, at)),
    );

  return {
    claimDue,

    /**
     * Charges claimed minutes in one ChargeBatch (see bill) and starts recording the outcomes:
     * resolves once billing answered, with `recorded` settling when they are stored, so a caller
     * may send the next ChargeBatch while this one's outcomes are written.
     */
    async chargeClaims(claims: MeteringClaim[]) {
      const outcomes = await bill(claims);
      return { recorded: record(claims, outcomes) };
    },

    release,

    /**
     * Claims up to `limit` sessions with a minute to charge at `at`, charges them in one call,
     * records. `around` wraps the charging and recording of a chunk that claimed something (the
     * worker's trace span; nothing is wrapped when nothing was due).
     */
    async chargeDue(
      at: Date,
      limit: number,
      around: <T>(claimed: number, work: () => Promise<T>) => Promise<T> = (_claimed, work) => work(),
    ) {
      const claims = await claimDue(at, limit);
      if (claims.length === 0) return { claimed: 0, advanced: [], ended: [] };
      return { claimed: claims.length, ...(await around(claims.length, () => charge(claims))) };
    },

    /**
     * Charges every started minute of a claimed session, one at a time (each depends on the
     * one before), first any minute an earlier claim left unresolved. Says whether the session
     * is still active (under this claim), ended meanwhile (funds, refusal), or was taken over
     * by another claim.
     */
    async chargeStarted(
      claim: MeteringClaim,
      at: Date,
    ): Promise<{ outcome: "active" } | { outcome: "ended"; session: SessionRecord } | { outcome: "lost" }> {
      let current: MeteringClaim = claim;
      while (current.unresolved || minuteStarted(current.session, at)) {
        const { advanced, ended } = await charge([current]);
        if (ended[0]) return { outcome: "ended", session: ended[0] };
        if (!advanced[0]) return { outcome: "lost" };
        current = { ...current, session: advanced[0], unresolved: false };
      }
      return { outcome: "active" };
    },
  };
}
