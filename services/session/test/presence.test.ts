import { newId } from "@parley/kit/ids";
import { EndReason, SessionKind, SessionStatus } from "@parley/proto/parley/session/v1/session";
import t from "tap";
import { RATE, startHarness } from "./harness";

// Presence heartbeats (a `presence` frame every ≤ 30 s, forwarded by the edge): a side whose
// offline report never arrives (its edge was killed) is taken as gone after the timeout.
const TIMEOUT = 90;
const harness = await startHarness(t, { presenceTimeoutSeconds: TIMEOUT });
const { session, clock } = harness;
const tick = () => harness.service.metering.tick();

const row = async (sessionId: string) =>
  (
    await harness.sql`select minutes_charged, paused_at, away_since, next_charge_at, xmin::text as version
      from sessions.sessions where id = ${sessionId}`
  )[0]!;
const seenAt = async (sessionId: string, userId: string) =>
  (
    await harness.sql`select seen_at from sessions.presence_seen
      where session_id = ${sessionId} and user_id = ${userId}`
  )[0]?.seen_at as Date | undefined;

const paid = async (userId: string, funded: bigint) => funded - (await harness.available(userId));

t.test("a side whose heartbeats stop is taken as gone; its minutes wait meanwhile", async (t) => {
  const funds = RATE * 30n;
  const { user, expert, sessionId } = await harness.activeSession({ funds });
  const lastHeard = clock.now;
  await tick();
  // The user's edge dies: no offline report, no more heartbeats. The expert stays.
  for (let second = 30; second <= 300; second += 30) {
    clock.advanceSeconds(30);
    await harness.present(sessionId, expert);
    await tick();
    if (second === 60)
      t.equal(
        Number((await row(sessionId)).minutes_charged),
        1,
        "minute 2 waits: the user not heard for 60 s",
      );
    if (second === TIMEOUT) {
      const silent = await row(sessionId);
      t.same(silent.away_since, lastHeard, "away since the timeout began: the last heartbeat");
      t.same(silent.paused_at, new Date(lastHeard.getTime() + harness.rules.pauseGraceSeconds * 1000));
    }
  }
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.status, SessionStatus.SESSION_STATUS_ENDED);
  t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED, "ended a disconnect timeout after it");
  t.equal(await paid(user.userId, funds), RATE, "one minute paid, as if the offline report had come");
  const log = await harness.sql`select online, at from sessions.presence_log
    where session_id = ${sessionId} and user_id = ${user.userId} order by at, online desc`;
  t.same(
    log.map((entry) => [entry.online, entry.at]),
    [
      [true, lastHeard],
      [false, lastHeard],
    ],
    "the dispute evidence shows the user gone since the last heartbeat",
  );
  const left = await harness.sql`select 1 from sessions.presence_seen where session_id = ${sessionId}`;
  t.equal(left.length, 0, "nothing is left of the ended session's heartbeats");
});

t.test("heartbeats keep both sides present, and write only their own row every 20 s", async (t) => {
  const funds = RATE * 30n;
  const { user, expert, sessionId } = await harness.activeSession({ funds });
  await tick();
  clock.advanceSeconds(10);
  const before = await row(sessionId);
  const written = await seenAt(sessionId, user.userId);
  await harness.present(sessionId, user, expert);
  t.same(await seenAt(sessionId, user.userId), written, "a heartbeat 10 s after the last one writes nothing");
  clock.advanceSeconds(10);
  await harness.present(sessionId, user);
  t.same(await seenAt(sessionId, user.userId), clock.now, "20 s after, it is written");
  t.equal((await row(sessionId)).version, before.version, "and never the session's row");
  for (let second = 30; second <= 300; second += 30) {
    clock.advanceSeconds(30 - (second === 30 ? 20 : 0));
    await harness.present(sessionId, user, expert);
    await tick();
  }
  const present = await row(sessionId);
  t.equal(present.paused_at, null, "never paused");
  t.equal(present.away_since, null);
  t.equal(Number(present.minutes_charged), 6, "a minute every minute for five minutes and the first");
  await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(await paid(user.userId, funds), RATE * 6n);
});

t.test("a side back after its heartbeats stopped resumes, the schedule moved by the pause", async (t) => {
  const funds = RATE * 30n;
  const { user, expert, sessionId } = await harness.activeSession({ funds });
  const lastHeard = clock.now;
  await tick();
  for (let second = 30; second <= 90; second += 30) {
    clock.advanceSeconds(30);
    await harness.present(sessionId, expert);
    await tick();
  }
  t.not((await row(sessionId)).paused_at, null, "paused: the user went silent 90 s ago");
  clock.advanceSeconds(15);
  await harness.present(sessionId, user, expert);
  const back = await row(sessionId);
  t.equal(back.paused_at, null, "resumed on the user's return");
  t.equal(back.away_since, null);
  // Paused from 15 s after the last heartbeat until now (105 s): 90 s that nobody pays for.
  t.same(back.next_charge_at, new Date(lastHeard.getTime() + (60 + 90) * 1000));
  await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(await paid(user.userId, funds), RATE, "the minute begun before the pause");
});

t.test(
  "a user whose heartbeats stopped while waiting has left: the chat starts when they are back",
  async (t) => {
    const user = await harness.person();
    const expert = await harness.expert();
    await harness.fund(user.userId, RATE * 30n);
    const { session: requested } = await session.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    );
    const sessionId = requested!.sessionId;
    await harness.present(sessionId, user);
    clock.advanceSeconds(TIMEOUT + 10);
    await tick();
    await harness.present(sessionId, expert);
    const { session: accepted } = await session.acceptSession({ sessionId }, expert.call);
    t.equal(accepted!.startedAt, undefined, "not metered: the user had gone");
    clock.advanceSeconds(5);
    await harness.present(sessionId, user);
    const { session: started } = await session.getSession({ sessionId }, user.call);
    t.same(started!.startedAt, clock.now, "metered from the user's return");
    await session.endSession({ reason: "", sessionId }, user.call);
  },
);

t.test("after metering stood still, a silent side is taken as gone from the timeout's start", async (t) => {
  // No tick for ten minutes (every session instance down, or heartbeats kept by instances that do
  // not write them): the user is gone as of 90 s ago, not as of ten minutes ago, so someone
  // still connected is paused, not ended, and is back with the next heartbeat.
  const funds = RATE * 30n;
  const { user, expert, sessionId } = await harness.activeSession({ funds });
  await tick();
  clock.advanceSeconds(600);
  await harness.present(sessionId, expert);
  await tick();
  const gone = await row(sessionId);
  t.same(gone.away_since, new Date(clock.now.getTime() - TIMEOUT * 1000));
  const { session: paused } = await session.getSession({ sessionId }, user.call);
  t.equal(paused!.status, SessionStatus.SESSION_STATUS_ACTIVE, "not ended");
  clock.advanceSeconds(20);
  await harness.present(sessionId, user);
  t.equal((await row(sessionId)).paused_at, null, "resumed by the user's next heartbeat");
  await session.endSession({ reason: "", sessionId }, user.call);
});

t.test("a session ended while a side is silent does not charge the minute held for it", async (t) => {
  const funds = RATE * 30n;
  const { user, expert, sessionId } = await harness.activeSession({ funds });
  await tick();
  for (const seconds of [30, 45]) {
    clock.advanceSeconds(seconds);
    await harness.present(sessionId, expert);
    await tick();
  }
  t.equal(Number((await row(sessionId)).minutes_charged), 1, "minute 2 waits: the user unheard for 75 s");
  // The expert gives up on the vanished user and ends it.
  await session.endSession({ reason: "", sessionId }, expert.call);
  t.equal(await paid(user.userId, funds), RATE, "one minute: the user has been gone since before minute 2");
});

t.test("a side that leaves properly after the other went silent: away since the first", async (t) => {
  const funds = RATE * 30n;
  const { user, sessionId } = await harness.activeSession({ funds });
  const lastHeard = clock.now;
  await tick();
  // The expert's edge dies; the user stays, then closes the app at 80 s.
  for (const seconds of [30, 30]) {
    clock.advanceSeconds(seconds);
    await harness.present(sessionId, user);
    await tick();
  }
  clock.advanceSeconds(20);
  await harness.service.sessions.reportPresence(user.userId, sessionId, false);
  clock.advanceSeconds(10);
  await tick();
  const gone = await row(sessionId);
  t.same(gone.away_since, lastHeard, "away since the expert went silent, not since the user left");
  t.same(gone.paused_at, new Date(lastHeard.getTime() + harness.rules.pauseGraceSeconds * 1000), "paused");
  clock.advanceSeconds(30);
  await tick();
  const { session: ended } = await session.getSession({ sessionId }, user.call);
  t.equal(ended!.endReason, EndReason.END_REASON_DISCONNECTED, "ended 120 s after the expert went");
  t.equal(await paid(user.userId, funds), RATE, "one minute");
});
