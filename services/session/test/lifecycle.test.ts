import { failedPrecondition, unavailable } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { EndReason, SessionKind, SessionStatus } from "@parley/proto/parley/session/v1/session";
import { ExpertAvailability } from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { failure, RATE, startHarness } from "./harness";

const harness = await startHarness(t);
const { session, clock } = harness;

t.test("full lifecycle: request, accept, metered minutes, end, settle, review", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 10n);

  const requested = await session.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: "r1" },
    user.call,
  );
  const sessionId = requested.session!.sessionId;
  t.equal(requested.session!.status, SessionStatus.SESSION_STATUS_WAITING);
  t.equal(requested.queuePosition, 1);
  t.equal(await harness.available(user.userId), RATE * 5n, "a hold of MIN_MINUTES × rate");
  const retried = await session.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: "r1" },
    user.call,
  );
  t.equal(retried.session!.sessionId, sessionId, "request_id makes the request idempotent");
  t.equal(await harness.available(user.userId), RATE * 5n, "and places no second hold");

  const invalid = await failure(session.endSession({ reason: "", sessionId }, user.call));
  t.equal(invalid.reason, "INVALID_SESSION_TRANSITION", "a waiting session cannot end");

  const accepted = await session.acceptSession({ sessionId }, expert.call);
  t.equal(accepted.session!.status, SessionStatus.SESSION_STATUS_ACTIVE);
  t.same(accepted.session!.startedAt, clock.now, "chat meters from acceptance");
  t.equal((await harness.expertState(expert.userId)).activeSessions, 1, "the user service knows the load");

  t.match(await harness.service.metering.tick(), { charged: 1 }, "minute 1 is charged up front");
  t.match(await harness.service.metering.tick(), { charged: 0 }, "and only once");
  clock.advanceSeconds(60);
  t.match(await harness.service.metering.tick(), { charged: 1 });
  clock.advanceSeconds(30);
  t.match(await harness.service.metering.tick(), { charged: 0 }, "the third minute is not due yet");

  const ended = await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(ended.session!.status, SessionStatus.SESSION_STATUS_ENDED);
  t.equal(ended.session!.endReason, EndReason.END_REASON_USER_ENDED);
  const endedAgain = await session.endSession({ reason: "", sessionId }, user.call);
  t.same(endedAgain.session, ended.session, "a retry of the end gets the session it ended");
  t.equal(
    (await failure(session.endSession({ reason: "", sessionId }, expert.call))).reason,
    "INVALID_SESSION_TRANSITION",
    "the other side cannot end what is already ended",
  );
  t.equal(ended.session!.minutesCharged, 2n);
  t.not(ended.session!.invoiceId, "", "settled into an invoice");
  t.equal(await harness.available(user.userId), RATE * 8n, "two minutes paid, the rest of the hold released");
  t.equal((await harness.expertState(expert.userId)).activeSessions, 0);

  clock.advanceSeconds(600);
  t.match(await harness.service.metering.tick(), { charged: 0 }, "an ended session is never charged");

  const review = await session.submitReview({ sessionId, rating: 5, text: "great" }, user.call);
  t.equal(review.review!.rating, 5);
  t.match(
    await harness.expertState(expert.userId),
    { ratingCount: 1, ratingAverage: 5 },
    "rating summary updated",
  );
  t.equal(
    (await failure(session.submitReview({ sessionId, rating: 4, text: "" }, user.call))).reason,
    "REVIEW_EXISTS",
  );
  t.equal(
    (await failure(session.submitReview({ sessionId, rating: 4, text: "" }, expert.call))).reason,
    "NOT_SESSION_USER",
  );
});

t.test("insufficient funds to request passes billing's shortfall through", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 2n);
  const error = await failure(
    session.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    ),
  );
  t.equal(error.reason, "INSUFFICIENT_FUNDS");
  t.equal(error.metadata.shortfall_minor, String(RATE * 3n));
  const again = await failure(
    session.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    ),
  );
  t.equal(again.reason, "INSUFFICIENT_FUNDS", "the failed request left no open request behind");
});

t.test("an expert's rate raised after a request does not reach it", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 1000n);
  const requested = await session.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
    user.call,
  );
  const sessionId = requested.session!.sessionId;
  await harness.user.upsertExpertProfile(
    {
      reason: "",
      expertId: expert.userId,
      profile: {
        chatRate: { amountMinor: RATE * 100n, currency: "INR" },
        callRate: { amountMinor: RATE * 2n, currency: "INR" },
        maxConcurrentSessions: 2,
        specialisations: ["astrology"],
        languages: ["en"],
        experienceYears: 3,
        bio: "test expert",
      },
    },
    expert.call,
  );
  const accepted = await session.acceptSession({ sessionId }, expert.call);
  t.same(accepted.session!.rate, { amountMinor: RATE, currency: "INR" }, "the rate the person saw");
  await harness.service.metering.tick();
  t.equal(await harness.available(user.userId), RATE * 995n, "minute 1 cost the requested rate");
  const ended = await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(ended.session!.minutesCharged, 1n);
  t.equal(await harness.available(user.userId), RATE * 999n, "one minute at the old rate, all told");
});

t.test("a rating user refuses for good is not asked again; the others are reported", async (t) => {
  const reviewed = [];
  for (let i = 0; i < 2; i++) {
    const { user, sessionId } = await harness.activeSession();
    await session.endSession({ reason: "", sessionId }, user.call);
    await session.submitReview({ sessionId, rating: 4, text: "" }, user.call);
    reviewed.push(sessionId);
  }
  const [gone, kept] = reviewed as [string, string];
  // Both wait for the worker: one names an expert user no longer has (NOT_FOUND there).
  await harness.sql`update sessions.reviews set rating_reported = false where session_id in ${harness.sql(reviewed)}`;
  await harness.sql`update sessions.reviews set expert_id = ${newId()} where session_id = ${gone}`;
  await harness.service.metering.tick();
  const rows = await harness.sql`select session_id, rating_reported from sessions.reviews
    where session_id in ${harness.sql(reviewed)} order by session_id`;
  t.same(
    Object.fromEntries(rows.map((r) => [r.session_id, r.rating_reported])),
    { [gone]: true, [kept]: true },
    "the refused one is settled too: it holds no place in the worker's next batches",
  );
});

t.test("a kind the expert has no rate for is refused before any money is held", async (t) => {
  const user = await harness.person();
  const chatOnly = await harness.expert({ callRateMinor: 0n });
  await harness.fund(user.userId, RATE * 10n);
  const error = await failure(
    session.requestSession(
      { expertId: chatOnly.userId, kind: SessionKind.SESSION_KIND_CALL, requestId: newId() },
      user.call,
    ),
  );
  t.equal(error.reason, "KIND_NOT_OFFERED");
  t.equal(await harness.available(user.userId), RATE * 10n);
});

t.test("a request cancelled while its hold is being placed gives the hold back", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 10n);
  // The real billing places the hold; its answer reaches session only after the cancel.
  const slow = harness.heldBackHolds();
  const principal = await harness.issuer.verifier.verify(user.call.bearerToken);
  const requesting = harness
    .instance(slow.billing)
    .sessions.requestSession(principal, { expertId: expert.userId, kind: "chat", requestId: newId() });
  await slow.placed;
  t.equal(await harness.available(user.userId), RATE * 5n, "five minutes are held");
  const [row] = await harness.sql<{ id: string }[]>`
    select id from sessions.sessions where user_id = ${user.userId}`;
  await session.cancelSession({ sessionId: row!.id }, user.call);
  slow.answer();
  const { session: cancelled } = await requesting;
  t.equal(cancelled.status, "cancelled");
  t.equal(await harness.available(user.userId), RATE * 10n, "the hold nobody will draw on is released");
});

t.test("a request cancelled while billing refuses its hold stays on record as cancelled", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  let refuse!: () => void;
  const refused = new Promise<void>((resolve) => (refuse = resolve));
  let asked!: () => void;
  const placing = new Promise<void>((resolve) => (asked = resolve));
  const refusing = {
    ...harness.billingPort,
    placeHold: async () => {
      asked();
      await refused;
      throw failedPrecondition("INSUFFICIENT_FUNDS", "not enough in the wallet");
    },
  };
  const principal = await harness.issuer.verifier.verify(user.call.bearerToken);
  const requesting = harness
    .instance(refusing)
    .sessions.requestSession(principal, { expertId: expert.userId, kind: "chat", requestId: newId() });
  await placing;
  const [row] = await harness.sql<{ id: string }[]>`
    select id from sessions.sessions where user_id = ${user.userId}`;
  await session.cancelSession({ sessionId: row!.id }, user.call);
  refuse();
  t.equal((await failure(requesting)).reason, "INSUFFICIENT_FUNDS");
  const kept = await harness.sql<{ status: string; events: number }[]>`
    select status, (select count(*)::int from sessions.session_events e where e.session_id = s.id) as events
    from sessions.sessions s where id = ${row!.id}`;
  t.equal(kept[0]?.status, "cancelled", "the cancelled request is not deleted");
  t.ok(kept[0]!.events > 0, "nor its events, which its watchers were sent");
});

t.test("a hold whose answer was lost is released when its request stops without a retry", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 10n);
  // Billing places the hold; its answer never reaches session.
  const lost = {
    ...harness.billingPort,
    placeHold: async (input: Parameters<typeof harness.billingPort.placeHold>[0]) => {
      await harness.billingPort.placeHold(input);
      throw unavailable("BILLING_UNAVAILABLE", "the answer was lost");
    },
  };
  const principal = await harness.issuer.verifier.verify(user.call.bearerToken);
  const requesting = harness
    .instance(lost)
    .sessions.requestSession(principal, { expertId: expert.userId, kind: "chat", requestId: newId() });
  t.equal((await failure(requesting)).reason, "BILLING_UNAVAILABLE");
  t.equal(await harness.available(user.userId), RATE * 5n, "the hold exists, unknown to session");
  // Nobody retries: the request expires.
  harness.clock.advanceSeconds(harness.rules.requestTtlSeconds);
  await harness.service.metering.tick();
  const [row] = await harness.sql<{ status: string }[]>`
    select status from sessions.sessions where user_id = ${user.userId}`;
  t.equal(row!.status, "expired");
  t.equal(await harness.available(user.userId), RATE * 10n, "the hold is found by its key and released");
});

t.test("concurrent retries of one request make one session with one hold, kept", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 10n);
  const request = { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() };
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => session.requestSession(request, user.call)),
  );
  t.equal(new Set(answers.map((a) => a.session!.sessionId)).size, 1, "every retry names the same session");
  const { session: current } = await session.getSession(
    { sessionId: answers[0]!.session!.sessionId },
    user.call,
  );
  t.equal(current!.status, SessionStatus.SESSION_STATUS_WAITING);
  t.equal(await harness.available(user.userId), RATE * 5n, "one hold of five minutes, still in place");
});

t.test("unavailable or unknown experts are refused", async (t) => {
  const user = await harness.person();
  const offline = await harness.expert({ availability: ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE });
  await harness.fund(user.userId, RATE * 10n);
  t.equal(
    (
      await failure(
        session.requestSession(
          { expertId: offline.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
          user.call,
        ),
      )
    ).reason,
    "EXPERT_UNAVAILABLE",
  );
  t.equal(
    (
      await failure(
        session.requestSession(
          { expertId: newId(), kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
          user.call,
        ),
      )
    ).reason,
    "EXPERT_NOT_FOUND",
  );
});

t.test("staff stopping a person's sessions stop all of them, past one page of the list", async (t) => {
  const expert = await harness.expert({ maxConcurrentSessions: 1 });
  const waiting = 30;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < waiting) {
        next++;
        const user = await harness.person();
        await harness.fund(user.userId, RATE * 10n);
        await session.requestSession(
          { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
          user.call,
        );
      }
    }),
  );
  const stopped = await harness.service.sessions.endPersonSessions(expert.userId, "account_suspended", false);
  t.equal(stopped.length, waiting, "every waiting request is stopped");
  const [open] = await harness.sql<{ count: number }[]>`
    select count(*)::int as count from sessions.sessions
    where expert_id = ${expert.userId} and status in ('requested', 'waiting', 'active')`;
  t.equal(open!.count, 0, "none is left open");
  t.same(
    await harness.service.sessions.endPersonSessions(expert.userId, "account_suspended", false),
    [],
    "a second call finds nothing open",
  );
});
