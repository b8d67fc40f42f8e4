import { newId } from "@parley/kit/ids";
import { EndReason, SessionStatus } from "@parley/proto/parley/session/v1/session";
import t from "tap";
import type { BillingPort } from "../src/domain/ports";
import { RATE, startHarness } from "./harness";

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
      charge: async () => {
        throw new Error("worker killed after claiming, before charging");
      },
    };
    const dieAfterCharge: BillingPort = {
      ...real,
      charge: async (input) => {
        await real.charge(input);
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
    await session.endSession({ sessionId }, user.call);
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
    await session.endSession({ sessionId }, user.call);
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

t.test(
  "disconnect: metering pauses after the grace period and the session ends if nobody returns",
  async (t) => {
    const { user, expert, sessionId } = await harness.activeSession();
    const edge = harness.service.sessions;
    await edge.reportPresence(user.userId, sessionId, true);
    await edge.reportPresence(expert.userId, sessionId, true);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1);

    await edge.reportPresence(user.userId, undefined, false);
    clock.advanceSeconds(60);
    await harness.service.metering.tick();
    t.equal(await chargedMinutes(sessionId), 1, "paused: the user left 60 s ago, grace is 15 s");
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

    await edge.reportPresence(expert.userId, sessionId, false);
    clock.advanceSeconds(harness.rules.disconnectTimeoutSeconds);
    await harness.service.metering.tick();
    const { session: ended } = await session.getSession({ sessionId }, user.call);
    t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED);
    t.equal(ended!.minutesCharged, 2n, "nobody paid for the dead air");
  },
);

t.test("a call's clock starts only when both sides are connected", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 40n);
  const { session: requested } = await session.requestSession(
    { expertId: expert.userId, kind: 2, requestId: newId() },
    user.call,
  );
  const sessionId = requested!.sessionId;
  const accepted = await session.acceptSession({ sessionId }, expert.call);
  t.equal(accepted.session!.startedAt, undefined);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 0);
  const edge = { bearerToken: await harness.issuer.serviceToken("edge") };
  await session.reportPresence({ userId: user.userId, sessionId, online: true }, edge);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 0, "one side is not enough");
  await harness.service.sessions.reportPresence(expert.userId, sessionId, true);
  await harness.service.metering.tick();
  t.equal(await chargedMinutes(sessionId), 1);
  const { session: current } = await session.getSession({ sessionId }, user.call);
  t.equal(current!.rate!.amountMinor, RATE * 2n, "metered at the call rate");
  await session.endSession({ sessionId }, expert.call);
});

t.test("ending charges every started minute the worker had not reached yet", async (t) => {
  const funds = RATE * 30n;
  const { user, sessionId } = await harness.activeSession({ funds });
  clock.advanceSeconds(150);
  const { session: ended } = await session.endSession({ sessionId }, user.call);
  t.equal(ended!.minutesCharged, 3n, "minutes 1, 2 and 3 had started");
  t.equal(await paid(user.userId, funds), RATE * 3n);
  t.match(await harness.service.metering.tick(), { charged: 0 }, "the worker finds nothing left to charge");
});
