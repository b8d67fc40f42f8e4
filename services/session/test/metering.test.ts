import { createInProcessBus } from "@parley/kit/bus";
import { unavailable } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { EndReason, SessionKind, SessionStatus } from "@parley/proto/parley/session/v1/session";
import postgres from "postgres";
import t from "tap";
import { chunksByPayee } from "../src/domain/metering";
import type { BillingPort } from "../src/domain/ports";
import { createSessionService } from "../src/server";
import { failure, RATE, startHarness, text } from "./harness";

const harness = await startHarness(t);
const { session, clock } = harness;

/** Minutes billing actually charged for a session, from the payer's history. */
async function chargedMinutes(sessionId: string): Promise<number> {
  const [row] = await harness.sql`select minutes_charged from sessions.sessions where id = ${sessionId}`;
  return Number(row!.minutes_charged);
}

/** What the payer's wallet paid, from billing (the source of truth for money). */
async function paid(userId: string, funded: bigint): Promise<bigint> {
  return funded - (await harness.available(userId));
}

t.test(
  "a worker that dies between claim and charge, or between charge and commit, charges each minute once",
  async (t) => {
    const funds = RATE * 30n;
    const { user, sessionId } = await harness.activeSession({ funds });
    const real = harness.billingPort;
    const dieBeforeCharge: BillingPort = {
      ...real,
      chargeBatch: async () => {
        throw new Error("worker killed after claiming, before charging");
      },
    };
    const dieAfterCharge: BillingPort = {
      ...real,
      chargeBatch: async (items) => {
        await real.chargeBatch(items);
        throw new Error("worker killed after billing charged, before the counter moved");
      },
    };
    await harness.instance(dieBeforeCharge).metering.tick();
    t.equal(await chargedMinutes(sessionId), 0, "nothing recorded by the dead worker");
    await harness.instance(dieAfterCharge).metering.tick();
    t.equal(await chargedMinutes(sessionId), 0, "the counter only moves after a charge is recorded");
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1, "the next worker charges minute 1 again (same key)");
    clock.advanceSeconds(60);
    await harness.instance(dieAfterCharge).metering.tick();
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 2);
    await session.endSession({ reason: "", sessionId }, user.call);
    t.equal(await paid(user.userId, funds), RATE * 2n, "billing took exactly two minutes");
  },
);

t.test("two workers over the same sessions charge every minute exactly once, 1..N", async (t) => {
  const started = await Promise.all(
    Array.from({ length: 12 }, () => harness.activeSession({ funds: RATE * 30n })),
  );
  const workers = [harness.service, harness.instance(), harness.instance()];
  for (let minute = 1; minute <= 4; minute++) {
    if (minute > 1) clock.advanceSeconds(60);
    const reports = await Promise.all(workers.map((worker) => worker.metering.tick()));
    t.equal(
      reports.reduce((sum, r) => sum + r.charged, 0),
      started.length,
      `minute ${minute}: each session charged once across the workers`,
    );
  }
  for (const { user, sessionId } of started) {
    t.equal(await chargedMinutes(sessionId), 4);
    await session.endSession({ reason: "", sessionId }, user.call);
    t.equal(await paid(user.userId, RATE * 30n), RATE * 4n, "the wallet paid four minutes");
  }
  const events = await harness.sql`select session_id, body->>'minute' as minute from sessions.session_events
    where body->>'type' = 'minute_charged' and session_id in ${harness.sql(started.map((s) => s.sessionId))}
    order by session_id, seq`;
  const bySession = new Map<string, string[]>();
  for (const row of events)
    bySession.set(row.session_id, [...(bySession.get(row.session_id) ?? []), row.minute]);
  for (const minutes of bySession.values())
    t.same(minutes, ["1", "2", "3", "4"], "minutes 1..4 without gaps");
});

t.test("low balance warning, then auto-end with insufficient_funds", async (t) => {
  // 6 minutes of money: a hold of 5, then 1 more from the balance.
  const funds = RATE * 6n;
  const { user, sessionId } = await harness.activeSession({ funds });
  for (let minute = 1; minute <= 6; minute++) {
    await harness.service.metering.tick();
    clock.advanceSeconds(60);
  }
  const lows = await harness.sql`select body from sessions.session_events where session_id = ${sessionId}
    and body->>'type' = 'low_balance' order by seq`;
  t.ok(lows.length >= 1, "low_balance events once two minutes or fewer remain");
  const report = await harness.service.metering.tick();
  t.equal(report.ended, 1, "minute 7 cannot be paid");
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.status, SessionStatus.SESSION_STATUS_ENDED);
  t.equal(ended!.endReason, EndReason.END_REASON_INSUFFICIENT_FUNDS);
  t.equal(ended!.minutesCharged, 6n);
  t.not(ended!.invoiceId, "");
  t.equal(await harness.available(user.userId), 0n, "everything paid, nothing overdrawn");
});

t.test("a minute billing refuses outright ends the session instead of being retried forever", async (t) => {
  const { user, sessionId } = await harness.activeSession();
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 1);
  // Billing no longer knows the session's hold: every later charge is refused as HOLD_NOT_FOUND.
  await harness.sql`update sessions.sessions set hold_id = ${newId()} where id = ${sessionId}`;
  clock.advanceSeconds(60);
  const report = await harness.service.metering.tick();
  t.equal(report.ended, 1);
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.endReason, EndReason.END_REASON_BILLING_REFUSED);
  t.equal(ended!.minutesCharged, 1n, "the minute paid stands");
  t.not(ended!.invoiceId, "", "and it is settled: invoiced without the hold billing no longer knows");
});

t.test("a block whose session cannot be ended yet fails, to be retried; the retry ends it", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  await harness.service.metering.tick();
  clock.advanceSeconds(60);
  // Billing is down: minute 2, due at the end, cannot be charged, so the session cannot end.
  const down = harness.instance({
    ...harness.billingPort,
    chargeBatch: async () => {
      throw unavailable("BILLING_UNAVAILABLE", "billing did not answer");
    },
  });
  const asExpert = {
    kind: "user",
    userId: expert.userId,
    role: "expert",
    sessionId: newId(),
    assurance: "aal1",
  } as const;
  const failed = await failure(down.safety.blockPerson(asExpert, user.userId));
  t.equal(failed.kind, "unavailable", "the expert is told it did not all happen");
  t.equal(
    (await session.getSession({ sessionId }, user.call)).session!.status,
    SessionStatus.SESSION_STATUS_ACTIVE,
  );
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "still here?"), user.call))).reason,
    "PARTICIPANT_BLOCKED",
    "the block stands meanwhile",
  );
  // Nobody asks again: the block's own outbox row, relayed once billing is back, closes it.
  const relay = harness.safetyRelay();
  while ((await relay.drainOnce()) > 0);
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.endReason, EndReason.END_REASON_BLOCKED, "the relay ended it");
  t.equal(ended!.minutesCharged, 2n);
  const retried = await harness.service.safety.blockPerson(asExpert, user.userId);
  t.equal(retried.blockedId, user.userId, "a retry by the expert after that finds nothing left to close");
});

t.test("a top-up during the session extends it", async (t) => {
  const funds = RATE * 5n;
  const { user, sessionId } = await harness.activeSession({ funds });
  for (let minute = 1; minute <= 5; minute++) {
    await harness.service.metering.tick();
    clock.advanceSeconds(60);
  }
  t.equal((await session.getSession({ sessionId }, user.call)).session!.minutesLeft, 0n);
  await harness.fund(user.userId, RATE * 3n);
  for (let minute = 6; minute <= 8; minute++) {
    const report = await harness.service.metering.tick();
    t.equal(report.ended, 0, `minute ${minute} is paid from the top-up`);
    clock.advanceSeconds(60);
  }
  await harness.service.metering.tick();
  const { session: after } = await session.getSession({ sessionId }, user.call);
  t.equal(after!.minutesCharged, 8n);
  t.equal(after!.endReason, EndReason.END_REASON_INSUFFICIENT_FUNDS, "and ends when the top-up is used up");
});

/**
 * An active chat with both people connected and minute 1 charged; at 50 s the user goes away (the
 * pause will begin at 65 s, after the grace) and no tick has run since.
 */
async function userAwayAtFiftySeconds() {
  const active = await harness.activeSession();
  const edge = harness.service.sessions;
  await edge.reportPresence(active.user.userId, active.sessionId, true);
  await edge.reportPresence(active.expert.userId, active.sessionId, true);
  await harness.service.metering.tick();
  clock.advanceSeconds(50);
  await edge.reportPresence(active.user.userId, undefined, false);
  return active;
}

/** A session a user (funded for 40 minutes) requested of a new expert: waiting, not accepted. */
async function requested(kind = SessionKind.SESSION_KIND_CHAT) {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 40n);
  const { session: waiting } = await session.requestSession(
    { expertId: expert.userId, kind, requestId: newId() },
    user.call,
  );
  return { user, expert, sessionId: waiting!.sessionId };
}

/** A call requested and accepted, neither side connected yet (its clock not started). */
async function acceptedCall() {
  const { user, expert, sessionId } = await requested(SessionKind.SESSION_KIND_CALL);
  const accepted = await session.acceptSession({ sessionId }, expert.call);
  return { user, expert, sessionId, accepted: accepted.session! };
}

t.test(
  "disconnect: metering pauses after the grace period and the session ends if nobody returns",
  async (t) => {
    const { user, expert, sessionId } = await harness.activeSession();
    const edge = harness.service.sessions;
    await edge.reportPresence(user.userId, sessionId, true);
    await edge.reportPresence(expert.userId, sessionId, true);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1);
    const version = async () =>
      (await harness.sql`select xmin::text as v from sessions.sessions where id = ${sessionId}`)[0]!.v;
    const beforeHeartbeat = await version();
    await edge.reportPresence(user.userId, sessionId, true);
    t.equal(await version(), beforeHeartbeat, "a heartbeat that changes nothing writes nothing");

    await edge.reportPresence(user.userId, undefined, false);
    clock.advanceSeconds(60);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1, "paused: the user left 60 s ago, grace is 15 s");
    for (const [who, person] of [
      ["the one away", user],
      ["the one still there", expert],
    ] as const)
      t.equal(
        (await failure(session.sendMessage(text(sessionId, `while paused, from ${who}`), person.call)))
          .reason,
        "SESSION_PAUSED",
        `no message while metering is paused, from ${who}: the paused time is not free chat`,
      );
    clock.advanceSeconds(30);
    await edge.reportPresence(user.userId, sessionId, true);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1, "the paused time is not billed on return");
    clock.advanceSeconds(44);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1, "15 s of grace + 44 s back is not yet a minute");
    clock.advanceSeconds(1);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 2, "metering resumes, shifted by the pause");
    await session.sendMessage(text(sessionId, "back"), user.call);

    await edge.reportPresence(expert.userId, sessionId, false);
    clock.advanceSeconds(harness.rules.disconnectTimeoutSeconds);
    await harness.service.metering.tick();
    const { session: ended } = await session.getSession({ sessionId }, user.call);
    t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED);
    t.equal(ended!.minutesCharged, 2n, "nobody paid for the dead air");
  },
);

t.test("each side has its own disconnect timeout: one back while the other left later", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  const edge = harness.service.sessions;
  const timeout = harness.rules.disconnectTimeoutSeconds;
  await harness.service.metering.tick();
  await edge.reportPresence(user.userId, sessionId, false);
  clock.advanceSeconds(timeout - 20);
  await edge.reportPresence(expert.userId, sessionId, false);
  clock.advanceSeconds(5);
  await edge.reportPresence(user.userId, sessionId, true);
  clock.advanceSeconds(15);
  await harness.service.metering.tick();
  const status = async () => (await session.getSession({ sessionId }, user.call)).session!;
  t.equal(
    (await status()).status,
    SessionStatus.SESSION_STATUS_ACTIVE,
    "the user came back in time; the expert has been gone 20 s of their 120",
  );
  clock.advanceSeconds(timeout - 20);
  await harness.service.metering.tick();
  await harness.service.metering.tick();
  const ended = await status();
  t.equal(ended.endReason, EndReason.END_REASON_DISCONNECTED, "the expert's own timeout ends it");
  t.equal(ended.minutesCharged, 1n, "paused from the user's grace on: no minute but the first");
});

t.test("a minute due before a pause began is charged, though the pause was applied first", async (t) => {
  const { expert, sessionId } = await userAwayAtFiftySeconds();
  t.equal(await chargedMinutes(sessionId), 1);
  // No tick ran meanwhile (billing was down, say): minute 2 fell due at 60 s, the pause began at 65 s.
  clock.advanceSeconds(20);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 2, "minute 2 started in billed time and is charged");
  clock.advanceSeconds(30);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 2, "and nothing while paused");
  const { session: ended } = await session.endSession({ reason: "", sessionId }, expert.call);
  t.equal(ended!.minutesCharged, 2n);
});

t.test("an end while paused charges a minute that fell due before the pause began", async (t) => {
  const { expert, sessionId } = await userAwayAtFiftySeconds();
  clock.advanceSeconds(20);
  // The pause is applied after the fact; no worker reached minute 2 before the end.
  await harness.sql`update sessions.sessions set paused_at = away_since + interval '15 seconds' where id = ${sessionId}`;
  const { session: ended } = await session.endSession({ reason: "", sessionId }, expert.call);
  t.equal(ended!.minutesCharged, 2n, "minute 2 started at 60 s, before the pause at 65 s");
});

t.test(
  "a session away past the timeout with a minute due before its pause is charged, then ended",
  async (t) => {
    const { user, sessionId } = await userAwayAtFiftySeconds();
    // The worker stalled past the disconnect timeout (a deploy, say).
    clock.advanceSeconds(harness.rules.disconnectTimeoutSeconds + 10);
    await harness.service.metering.tick();
    await harness.service.metering.tick();
    const { session: ended } = await session.getSession({ sessionId }, user.call);
    t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED);
    t.equal(ended!.minutesCharged, 2n, "minute 2 fell due before the pause: charged, not given away");
  },
);

t.test("a call's clock starts only when both sides are connected", async (t) => {
  const { user, expert, sessionId, accepted } = await acceptedCall();
  t.equal(accepted.startedAt, undefined);
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "are you there?"), user.call))).reason,
    "SESSION_NOT_STARTED",
    "a call that has not started takes no message: nothing is metered yet",
  );
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 0);
  const edge = { bearerToken: await harness.issuer.serviceToken("edge") };
  await session.reportPresence({ userId: user.userId, sessionId, online: true }, edge);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 0, "one side is not enough");
  await harness.service.sessions.reportPresence(expert.userId, sessionId, true);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 1);
  await session.sendMessage(text(sessionId, "connected"), user.call);
  const { session: current } = await session.getSession({ sessionId }, user.call);
  t.equal(current!.rate!.amountMinor, RATE * 2n, "metered at the call rate");
  await session.endSession({ reason: "", sessionId }, expert.call);
});

t.test(
  "a chat accepted after the user left is not metered, and ends disconnected charging nothing",
  async (t) => {
    const { user, expert, sessionId } = await requested();
    const edge = harness.service.sessions;
    // The user waited with the session open, then gave up and closed the app without cancelling.
    await edge.reportPresence(user.userId, sessionId, true);
    await edge.reportPresence(user.userId, sessionId, false);
    await edge.reportPresence(expert.userId, sessionId, true);
    const { session: accepted } = await session.acceptSession({ sessionId }, expert.call);
    t.equal(accepted!.startedAt, undefined, "the user is not there: no clock");
    await harness.service.metering.tick();
    clock.advanceSeconds(harness.rules.disconnectTimeoutSeconds - 1);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 0, "nothing charged while the user is gone");
    clock.advanceSeconds(1);
    await harness.service.metering.tick();
    const { session: ended } = await session.getSession({ sessionId }, user.call);
    t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED);
    t.equal(ended!.minutesCharged, 0n);
    await harness.service.metering.tick();
    t.equal(await paid(user.userId, RATE * 40n), 0n, "nothing paid, the hold given back");
  },
);

t.test("a chat accepted before the user is back starts when they are", async (t) => {
  const { user, expert, sessionId } = await requested();
  const edge = harness.service.sessions;
  // The user stepped away while waiting.
  await edge.reportPresence(user.userId, sessionId, true);
  await edge.reportPresence(user.userId, sessionId, false);
  clock.advanceSeconds(30);
  await edge.reportPresence(expert.userId, sessionId, true);
  await session.acceptSession({ sessionId }, expert.call);
  clock.advanceSeconds(40);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 0);
  // Told by a push that the expert accepted, the user opens the session.
  await edge.reportPresence(user.userId, sessionId, true);
  const { session: started } = await session.getSession({ sessionId }, user.call);
  t.same(started!.startedAt, clock.now, "metering starts as both are there");
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 1);
  await session.sendMessage(text(sessionId, "sorry, I was away"), user.call);
  await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(await paid(user.userId, RATE * 40n), RATE, "one minute, from when both were there");
});

t.test("a chat whose user came back before it was accepted meters from acceptance", async (t) => {
  const { user, expert, sessionId } = await requested();
  const edge = harness.service.sessions;
  await edge.reportPresence(user.userId, sessionId, true);
  await edge.reportPresence(user.userId, sessionId, false);
  await edge.reportPresence(user.userId, sessionId, true);
  const { session: accepted } = await session.acceptSession({ sessionId }, expert.call);
  t.same(accepted!.startedAt, clock.now, "the user is there: metered from acceptance");
  await session.endSession({ reason: "", sessionId }, user.call);
});

t.test("an accepted call whose sides never both connect ends, charging nothing", async (t) => {
  const { user, expert, sessionId } = await acceptedCall();
  await harness.service.sessions.reportPresence(user.userId, sessionId, true);
  clock.advanceSeconds(harness.rules.disconnectTimeoutSeconds - 1);
  await harness.service.metering.tick();
  t.equal(
    (await session.getSession({ sessionId }, user.call)).session!.status,
    SessionStatus.SESSION_STATUS_ACTIVE,
  );
  clock.advanceSeconds(1);
  await harness.service.metering.tick();
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.status, SessionStatus.SESSION_STATUS_ENDED, "the expert never connected: the call ends");
  t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED);
  t.equal(ended!.minutesCharged, 0n);
  await harness.service.metering.tick();
  t.equal(await paid(user.userId, RATE * 40n), 0n, "nothing paid, the hold given back");
  t.equal((await harness.expertState(expert.userId)).activeSessions, 0, "and the expert's slot is free");
});

t.test("ending charges every started minute the worker had not reached yet", async (t) => {
  const funds = RATE * 30n;
  const { user, sessionId } = await harness.activeSession({ funds });
  clock.advanceSeconds(150);
  const { session: ended } = await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(ended!.minutesCharged, 3n, "minutes 1, 2 and 3 had started");
  t.equal(await paid(user.userId, funds), RATE * 3n);
  t.match(await harness.service.metering.tick(), { charged: 0 }, "the worker finds nothing left to charge");
});

/** A billing whose ChargeBatch reaches billing at once but whose answer is held back until `answer()`. */
function lateAnswers(real: BillingPort) {
  let reached!: () => void;
  const charged = new Promise<void>((resolve) => (reached = resolve));
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  const billing: BillingPort = {
    ...real,
    async chargeBatch(items) {
      const outcomes = await real.chargeBatch(items);
      reached();
      await answered;
      return outcomes;
    },
  };
  return { billing, charged, answer };
}

/** The minutes of every minute_charged event of a session, in seq order. */
async function minuteEvents(sessionId: string): Promise<number[]> {
  const rows = await harness.sql`select body->>'minute' as minute from sessions.session_events
    where session_id = ${sessionId} and body->>'type' = 'minute_charged' order by seq`;
  return rows.map((row) => Number(row.minute));
}

t.test(
  "a lease that runs out mid-call is taken over; the first worker's late result is refused; minutes stay 1..N",
  async (t) => {
    const funds = RATE * 30n;
    const { user, sessionId } = await harness.activeSession({ funds });
    const slow = lateAnswers(harness.billingPort);
    const first = harness.instance(slow.billing).metering.tick();
    await slow.charged;
    t.equal(
      await chargedMinutes(sessionId),
      0,
      "billing took minute 1; the first worker has not answered yet",
    );

    clock.advanceSeconds(harness.rules.leaseSeconds + 1);
    const second = await harness.instance().metering.tick();
    t.equal(
      second.charged,
      1,
      "the second worker takes the expired claim over and records minute 1 (replayed)",
    );
    t.equal(await chargedMinutes(sessionId), 1);

    slow.answer();
    t.equal((await first).charged, 0, "the first worker's late result is refused: its epoch is gone");
    t.equal(await chargedMinutes(sessionId), 1);
    t.same(await minuteEvents(sessionId), [1], "one minute_charged event for minute 1");

    clock.advanceSeconds(60 - harness.rules.leaseSeconds - 1);
    await harness.service.metering.tick();
    await session.endSession({ reason: "", sessionId }, user.call);
    t.same(await minuteEvents(sessionId), [1, 2]);
    t.equal(await paid(user.userId, funds), RATE * 2n, "billing took exactly two minutes");
  },
);

t.test("EndSession takes a worker's live claim over and charges that minute itself, once", async (t) => {
  const funds = RATE * 30n;
  const { user, sessionId } = await harness.activeSession({ funds });
  const slow = lateAnswers(harness.billingPort);
  const worker = harness.instance(slow.billing).metering.tick();
  await slow.charged;
  const { session: ended } = await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(ended!.minutesCharged, 1n, "the minute the worker was charging is paid and counted");
  t.equal(ended!.endReason, EndReason.END_REASON_USER_ENDED);
  slow.answer();
  t.equal((await worker).charged, 0, "the worker's late result is refused");
  t.same(await minuteEvents(sessionId), [1]);
  t.equal(await paid(user.userId, funds), RATE, "one minute paid");
});

t.test(
  "two instances ticking together, several chunks each in flight, charge every minute once",
  async (t) => {
    const started = await Promise.all(
      Array.from({ length: 24 }, () => harness.activeSession({ funds: RATE * 30n })),
    );
    const options = { chunkSize: 5, parallelChunks: 3 };
    const instances = [harness.instance(undefined, options), harness.instance(undefined, options)];
    for (let minute = 1; minute <= 3; minute++) {
      if (minute > 1) clock.advanceSeconds(60);
      const reports = await Promise.all(instances.map((instance) => instance.metering.tick()));
      t.equal(
        reports.reduce((sum, report) => sum + report.charged, 0),
        started.length,
        `minute ${minute}: ${started.length} sessions charged once between the two`,
      );
    }
    for (const { user, sessionId } of started) {
      t.same(await minuteEvents(sessionId), [1, 2, 3]);
      await session.endSession({ reason: "", sessionId }, user.call);
      t.equal(await paid(user.userId, RATE * 30n), RATE * 3n);
    }
  },
);

t.test(
  "chunks cut claims at expert boundaries, at most the chunk size, an expert's claims in order",
  async (t) => {
    const claim = (expertId: string, n: number) => ({ session: { expertId, id: `${expertId}${n}` } });
    const claims = [claim("b", 1), claim("a", 1), claim("c", 1), claim("b", 2), claim("a", 2), claim("b", 3)];
    const ids = (chunks: ReturnType<typeof claim>[][]) =>
      chunks.map((chunk) => chunk.map((c) => c.session.id));
    t.same(ids(chunksByPayee(claims, 3)), [["a1", "a2"], ["b1", "b2", "b3"], ["c1"]]);
    t.same(ids(chunksByPayee(claims, 6)), [["a1", "a2", "b1", "b2", "b3", "c1"]]);
    t.same(
      ids(chunksByPayee(claims, 2)),
      [
        ["a1", "a2"],
        ["b1", "b2"],
        ["b3", "c1"],
      ],
      "only an expert with more than a chunk's worth spans chunks",
    );
    t.same(chunksByPayee([], 5), []);
  },
);

t.test(
  "the ChargeBatches of a tick in flight at once pay disjoint experts, and every minute once",
  async (t) => {
    const experts = await Promise.all(
      Array.from({ length: 6 }, () =>
        harness.expert({ chatRateMinor: RATE, callRateMinor: RATE, maxConcurrentSessions: 10 }),
      ),
    );
    const started = [];
    for (let i = 0; i < 24; i++)
      started.push(await harness.activeSession({ funds: RATE * 30n, expert: experts[i % experts.length]! }));
    const inFlight = new Set<string[]>();
    let overlaps = 0;
    const calls: number[] = [];
    const watching: BillingPort = {
      ...harness.billingPort,
      chargeBatch: async (items) => {
        const payees = items.map((item) => item.payeeUserId);
        for (const other of inFlight) if (other.some((payee) => payees.includes(payee))) overlaps += 1;
        inFlight.add(payees);
        calls.push(items.length);
        try {
          // Long enough for the other chunks of the round to be sent meanwhile.
          await new Promise((resolve) => setTimeout(resolve, 20));
          return await harness.billingPort.chargeBatch(items);
        } finally {
          inFlight.delete(payees);
        }
      },
    };
    const instance = harness.instance(watching, { chunkSize: 5, parallelChunks: 3 });
    for (let minute = 1; minute <= 2; minute++) {
      if (minute > 1) clock.advanceSeconds(60);
      calls.length = 0;
      const report = await instance.metering.tick();
      t.equal(report.charged, started.length, `minute ${minute}: every session charged`);
      t.ok(
        calls.every((size) => size <= 5),
        `minute ${minute}: no ChargeBatch above the chunk size (${calls.join(", ")})`,
      );
    }
    t.equal(overlaps, 0, "no two ChargeBatches in flight at once paid the same expert");
    for (const { user, sessionId } of started) {
      t.same(await minuteEvents(sessionId), [1, 2]);
      await session.endSession({ reason: "", sessionId }, user.call);
      t.equal(await paid(user.userId, RATE * 30n), RATE * 2n);
    }
  },
);

t.test(
  "a ChargeBatch that fails mid-tick stops the tick's claims and gives them back; the next tick charges each once",
  async (t) => {
    const started = [];
    for (let i = 0; i < 12; i++) started.push(await harness.activeSession({ funds: RATE * 30n }));
    let calls = 0;
    const flaky: BillingPort = {
      ...harness.billingPort,
      chargeBatch: async (items) => {
        calls += 1;
        if (calls === 2) throw new Error("billing unavailable");
        return harness.billingPort.chargeBatch(items);
      },
    };
    const report = await harness.instance(flaky, { chunkSize: 2, parallelChunks: 2 }).metering.tick();
    t.ok(report.charged < started.length, `the failing tick charged ${report.charged} of ${started.length}`);
    const leased = await harness.sql`
    select count(*)::int as n from sessions.sessions
    where id = any(${started.map((s) => s.sessionId)}) and lease_until > ${clock.now}`;
    t.equal(leased[0]!.n, 0, "no claim is left waiting for its lease to run out");
    const next = await harness.service.metering.tick();
    t.equal(report.charged + next.charged, started.length, "the next tick charges the rest");
    for (const { user, sessionId } of started) {
      t.same(await minuteEvents(sessionId), [1]);
      await session.endSession({ reason: "", sessionId }, user.call);
      t.equal(await paid(user.userId, RATE * 30n), RATE, "one minute paid");
    }
  },
);

t.test("one chunk is one ChargeBatch, and its outcomes are recorded in bulk whatever they are", async (t) => {
  const rich = await harness.activeSession({ funds: RATE * 30n });
  // Five minutes of money, all in the hold: minute 6 cannot be paid.
  const poor = await harness.activeSession({ funds: RATE * 5n });
  const refused = await harness.activeSession({ funds: RATE * 30n });
  const calls: number[] = [];
  const counting: BillingPort = {
    ...harness.billingPort,
    chargeBatch: (items) => {
      calls.push(items.length);
      return harness.billingPort.chargeBatch(items);
    },
  };
  let statements = 0;
  const counted = postgres(harness.databaseUrl, {
    max: 4,
    onnotice: () => {},
    types: { bigint: postgres.BigInt },
    debug: () => {
      statements += 1;
    },
  });
  t.teardown(() => counted.end({ timeout: 5 }));
  const instance = createSessionService({
    sql: counted,
    bus: createInProcessBus(),
    billing: counting,
    experts: harness.experts,
    rules: harness.rules,
    log: harness.log,
    now: () => clock.now,
  });
  const { metering } = instance.sessions.parts;
  const chargeAll = async () => {
    statements = 0;
    calls.length = 0;
    const result = await metering.chargeDue(clock.now, 1_000);
    return { ...result, statements, calls: [...calls] };
  };

  let threeSessions = 0;
  for (let minute = 1; minute <= 5; minute++) {
    const round = await chargeAll();
    t.same(round.calls, [minute <= 2 ? 3 : 2], `minute ${minute}: every due session in one ChargeBatch`);
    if (minute === 1) {
      t.equal(round.advanced.length, 3);
      // Billing no longer knows this session's hold: the next minute is refused outright.
      await harness.sql`update sessions.sessions set hold_id = ${newId()} where id = ${refused.sessionId}`;
    }
    if (minute === 2) {
      t.same(
        round.ended.map((s) => [s.id, s.endReason]),
        [[refused.sessionId, "billing_refused"]],
        "a refusal ends its session; the others are charged in the same transaction",
      );
      t.equal(round.advanced.length, 2);
      threeSessions = round.statements;
    }
    clock.advanceSeconds(60);
  }
  const mixed = await chargeAll();
  t.same(mixed.calls, [2]);
  t.same(
    mixed.advanced.map((s) => s.id),
    [rich.sessionId],
  );
  t.same(
    mixed.ended.map((s) => [s.id, s.endReason]),
    [[poor.sessionId, "insufficient_funds"]],
    "minute 6 of the poor session cannot be paid: it ends, the rich one is charged, in one transaction",
  );
  t.equal(
    mixed.statements,
    threeSessions,
    `claiming and recording a chunk costs the same ${threeSessions} statements for two sessions as for three`,
  );
  t.same(await minuteEvents(poor.sessionId), [1, 2, 3, 4, 5]);
  const lows = await harness.sql`select count(*)::int as n from sessions.session_events
    where session_id = ${poor.sessionId} and body->>'type' = 'low_balance'`;
  t.ok(lows[0]!.n >= 1, "low_balance went out with the charged minutes");
});
