import { newId } from "@parley/kit/ids";
import { EndReason, SessionKind, SessionStatus } from "@parley/proto/parley/session/v1/session";
import t from "tap";
import { failure, RATE, startHarness } from "./harness";

const harness = await startHarness(t);
const { session, clock } = harness;
const CHAT = SessionKind.SESSION_KIND_CHAT;

async function funded() {
  const user = await harness.person();
  await harness.fund(user.userId, RATE * 20n);
  return user;
}

t.test(
  "the queue is in the order requests joined it (hold placed), not the order they were made",
  async (t) => {
    const expert = await harness.expert({ maxConcurrentSessions: 1 });
    const [slow, quick] = [await funded(), await funded()];
    const held = harness.heldBackHolds();
    const slowRequest = harness
      .instance(held.billing)
      .sessions.requestSession(await harness.issuer.verifier.verify(slow.call.bearerToken), {
        expertId: expert.userId,
        kind: "chat",
        requestId: newId(),
      });
    await held.placed;
    const quickRequest = await session.requestSession(
      { expertId: expert.userId, kind: CHAT, requestId: newId() },
      quick.call,
    );
    t.equal(quickRequest.queuePosition, 1, "made second, queued first");
    clock.advanceSeconds(1);
    held.answer();
    const slowAnswer = await slowRequest;
    t.equal(slowAnswer.queuePosition, 2, "made first, queued second: it joins behind");
    await session.cancelSession({ sessionId: slowAnswer.session.id }, slow.call);
    await session.cancelSession({ sessionId: quickRequest.session!.sessionId }, quick.call);
  },
);

t.test("FIFO queue with positions, estimated waits and capacity", async (t) => {
  const expert = await harness.expert({ maxConcurrentSessions: 1 });
  const users = [await funded(), await funded(), await funded()];
  const ids: string[] = [];
  for (const [index, user] of users.entries()) {
    const response = await session.requestSession(
      { expertId: expert.userId, kind: CHAT, requestId: newId() },
      user.call,
    );
    t.equal(response.queuePosition, index + 1, `request ${index + 1} joins at the back`);
    t.equal(response.estimatedWaitSeconds, BigInt((index + 1) * harness.rules.averageSessionSeconds));
    ids.push(response.session!.sessionId);
  }
  const dup = await failure(
    session.requestSession({ expertId: expert.userId, kind: CHAT, requestId: newId() }, users[0]!.call),
  );
  t.equal(dup.reason, "OPEN_REQUEST_EXISTS", "one open request per user and expert");

  const queue = await session.getQueue({ expertId: expert.userId }, expert.call);
  t.same(
    queue.entries.map((e) => e.session!.sessionId),
    ids,
    "the expert sees the queue in arrival order",
  );
  t.equal(
    (await failure(session.getQueue({ expertId: expert.userId }, users[0]!.call))).reason,
    "NOT_QUEUE_OWNER",
  );

  await session.acceptSession({ sessionId: ids[1]! }, expert.call);
  const atCapacity = await failure(session.acceptSession({ sessionId: ids[0]! }, expert.call));
  t.equal(atCapacity.reason, "EXPERT_AT_CAPACITY", "max_concurrent_sessions is respected");
  const { session: first } = await session.getSession({ sessionId: ids[0]! }, users[0]!.call);
  t.equal(first!.queuePosition, 1);
  const { session: third } = await session.getSession({ sessionId: ids[2]! }, users[2]!.call);
  t.equal(third!.queuePosition, 2, "the third moved up when the second was accepted");
  const pushed = await harness.sql`select body from sessions.session_events where session_id = ${ids[2]!}
    and body->>'type' = 'queue_position' order by seq`;
  t.same(
    pushed.map((row) => row.body.position),
    [3, 2],
    "position changes are pushed as events",
  );

  await session.endSession({ reason: "", sessionId: ids[1]! }, expert.call);
  await session.acceptSession({ sessionId: ids[0]! }, expert.call);
  await session.endSession({ reason: "", sessionId: ids[0]! }, users[0]!.call);

  const declined = await session.declineSession({ sessionId: ids[2]! }, expert.call);
  t.equal(declined.session!.status, SessionStatus.SESSION_STATUS_DECLINED);
  t.equal(declined.session!.endReason, EndReason.END_REASON_DECLINED);
  t.equal(await harness.available(users[2]!.userId), RATE * 20n, "declining releases the hold");
});

t.test("cancel while waiting; invalid transitions are refused with a reason", async (t) => {
  const expert = await harness.expert();
  const user = await funded();
  const { session: waiting } = await session.requestSession(
    { expertId: expert.userId, kind: CHAT, requestId: newId() },
    user.call,
  );
  const sessionId = waiting!.sessionId;
  t.equal((await failure(session.cancelSession({ sessionId }, expert.call))).reason, "NOT_SESSION_USER");
  t.equal((await failure(session.acceptSession({ sessionId }, user.call))).reason, "NOT_SESSION_EXPERT");
  const cancelled = await session.cancelSession({ sessionId }, user.call);
  t.equal(cancelled.session!.status, SessionStatus.SESSION_STATUS_CANCELLED);
  t.equal(await harness.available(user.userId), RATE * 20n, "cancelling releases the hold");
  const again = await failure(session.acceptSession({ sessionId }, expert.call));
  t.equal(again.reason, "INVALID_SESSION_TRANSITION");
  t.equal(again.metadata.from, "cancelled");
  t.equal(
    (await failure(session.cancelSession({ sessionId }, user.call))).reason,
    "INVALID_SESSION_TRANSITION",
  );
});

t.test("unanswered requests expire, release the hold and move the queue", async (t) => {
  const expert = await harness.expert();
  const first = await funded();
  const second = await funded();
  const a = await session.requestSession(
    { expertId: expert.userId, kind: CHAT, requestId: newId() },
    first.call,
  );
  clock.advanceSeconds(100);
  const b = await session.requestSession(
    { expertId: expert.userId, kind: CHAT, requestId: newId() },
    second.call,
  );
  t.equal(b.queuePosition, 2);
  clock.advanceSeconds(harness.rules.requestTtlSeconds - 100);
  const report = await harness.service.metering.tick();
  t.equal(report.expired, 1, "only the older request expired");
  const { session: expired } = await session.getSession({ sessionId: a.session!.sessionId }, first.call);
  t.equal(expired!.status, SessionStatus.SESSION_STATUS_EXPIRED);
  t.equal(expired!.endReason, EndReason.END_REASON_EXPIRED);
  t.equal(await harness.available(first.userId), RATE * 20n, "the expired request's hold is released");
  const { session: next } = await session.getSession({ sessionId: b.session!.sessionId }, second.call);
  t.equal(next!.queuePosition, 1, "the next request is offered first");
  const again = await session.requestSession(
    { expertId: expert.userId, kind: CHAT, requestId: newId() },
    first.call,
  );
  t.equal(again.queuePosition, 2, "after expiry the user may ask again");
});

t.test("ListSessions filters by status, kind and side", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  const mine = await session.listSessions(
    {
      statuses: [SessionStatus.SESSION_STATUS_ACTIVE],
      kind: 0,
      pageSize: 0,
      pageToken: "",
      participantId: "",
    },
    user.call,
  );
  t.same(
    mine.sessions.map((s) => s.sessionId),
    [sessionId],
  );
  const asExpert = await session.listSessions(
    { statuses: [], kind: 0, asExpert: true, pageSize: 0, pageToken: "", participantId: "" },
    expert.call,
  );
  t.same(
    asExpert.sessions.map((s) => s.sessionId),
    [sessionId],
  );
  const asUser = await session.listSessions(
    { statuses: [], kind: 0, asExpert: false, pageSize: 0, pageToken: "", participantId: "" },
    expert.call,
  );
  t.same(asUser.sessions, []);
  const ended = await session.listSessions(
    {
      statuses: [SessionStatus.SESSION_STATUS_ENDED],
      kind: 0,
      pageSize: 0,
      pageToken: "",
      participantId: "",
    },
    user.call,
  );
  t.same(ended.sessions, []);
  const stranger = await harness.person();
  t.equal(
    (
      await failure(
        session.listSessions(
          { statuses: [], kind: 0, pageSize: 0, pageToken: "", participantId: user.userId },
          stranger.call,
        ),
      )
    ).reason,
    "PERMISSION_DENIED",
  );
  const operator = await harness.person("operator");
  const seen = await session.listSessions(
    { statuses: [], kind: 0, pageSize: 1, pageToken: "", participantId: user.userId },
    operator.call,
  );
  t.equal(seen.sessions.length, 1);
  t.not(seen.nextPageToken, "");
});

t.test("a request left in `requested` by a crash expires instead of blocking the user", async (t) => {
  const expert = await harness.expert();
  const user = await funded();
  const stuckId = newId();
  await harness.sql`insert into sessions.sessions (id, user_id, expert_id, kind, status, request_id, rate_minor,
    currency, requested_at, expires_at)
    values (${stuckId}, ${user.userId}, ${expert.userId}, 'chat', 'requested', 'crashed', ${RATE.toString()}, 'INR',
    ${clock.now}, ${new Date(clock.now.getTime() + harness.rules.requestTtlSeconds * 1000)})`;
  const blocked = await failure(
    session.requestSession({ expertId: expert.userId, kind: CHAT, requestId: newId() }, user.call),
  );
  t.equal(blocked.reason, "OPEN_REQUEST_EXISTS");
  clock.advanceSeconds(harness.rules.requestTtlSeconds);
  await harness.service.metering.tick();
  const { session: stuck } = await session.getSession({ sessionId: stuckId }, user.call);
  t.equal(stuck!.status, SessionStatus.SESSION_STATUS_EXPIRED);
  const fresh = await session.requestSession(
    { expertId: expert.userId, kind: CHAT, requestId: newId() },
    user.call,
  );
  t.equal(fresh.session!.status, SessionStatus.SESSION_STATUS_WAITING);
});

t.test("concurrent accept, cancel, decline and new requests on one queue never deadlock", async (t) => {
  const expert = await harness.expert({ maxConcurrentSessions: 5 });
  const users = await Promise.all(Array.from({ length: 6 }, () => funded()));
  const ids: string[] = [];
  for (const user of users.slice(0, 5)) {
    const { session: waiting } = await session.requestSession(
      { expertId: expert.userId, kind: CHAT, requestId: newId() },
      user.call,
    );
    ids.push(waiting!.sessionId);
  }
  const results = await Promise.allSettled([
    session.acceptSession({ sessionId: ids[0]! }, expert.call),
    session.cancelSession({ sessionId: ids[1]! }, users[1]!.call),
    session.acceptSession({ sessionId: ids[2]! }, expert.call),
    session.declineSession({ sessionId: ids[3]! }, expert.call),
    session.cancelSession({ sessionId: ids[4]! }, users[4]!.call),
    session.requestSession({ expertId: expert.userId, kind: CHAT, requestId: newId() }, users[5]!.call),
  ]);
  t.same(
    results.map((r) => (r.status === "fulfilled" ? r.status : `${r.reason?.reason}: ${r.reason?.message}`)),
    Array(6).fill("fulfilled"),
    "every call succeeded",
  );
  const queue = await session.getQueue({ expertId: expert.userId }, expert.call);
  t.equal(queue.entries.length, 1, "only the newest request waits");
  t.equal(queue.entries[0]!.position, 1);
});

t.test(
  "an expert's queue holds MAX_QUEUE_LENGTH requests; the next is refused before any money is held",
  async (t) => {
    const small = await startHarness(t, { maxQueueLength: 2 });
    const expert = await small.expert();
    const request = async () => {
      const user = await small.person();
      await small.fund(user.userId, RATE * 20n);
      const asked = small.session.requestSession(
        { expertId: expert.userId, kind: CHAT, requestId: newId() },
        user.call,
      );
      return { user, asked };
    };
    for (let i = 0; i < 2; i++) await (await request()).asked;
    const { user, asked } = await request();
    const full = await failure(asked);
    t.equal(full.reason, "QUEUE_FULL");
    t.equal(full.metadata.max_queue_length, "2");
    t.equal(await small.available(user.userId), RATE * 20n, "nothing held for the refused request");
  },
);
