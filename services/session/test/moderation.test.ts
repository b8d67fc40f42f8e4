import { newId } from "@parley/kit/ids";
import t from "tap";
import { failure, startHarness } from "./harness";

const harness = await startHarness(t);
const { session } = harness;
const relay = harness.safetyRelay();
const moderator = {
  kind: "user",
  userId: newId(),
  role: "moderator",
  sessionId: newId(),
  assurance: "aal2",
} as const;

t.test("a review hidden while its rating's report is on its way leaves the expert's rating", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  await session.endSession({ reason: "", sessionId }, user.call);
  // The review is stored, and its report read (by the worker, say) before user has counted it.
  await harness.sql`insert into sessions.reviews (session_id, expert_id, user_id, rating, text, created_at)
    values (${sessionId}, ${expert.userId}, ${user.userId}, 1, 'call me on 98765 43210', now())`;
  const review = (await harness.service.sessions.parts.core.store.getReview(sessionId))!;
  // A moderator hides it meanwhile: its retraction reaches user before the rating does.
  await harness.service.safety.hideReview(moderator, sessionId, "contact details");
  while ((await relay.drainOnce()) > 0);
  t.equal((await harness.expertState(expert.userId)).ratingCount, 0, "nothing to retract yet");
  // The report lands late, and counts the rating.
  await harness.service.sessions.parts.reviews.reportRating(review);
  while ((await relay.drainOnce()) > 0);
  t.equal(
    (await harness.expertState(expert.userId)).ratingCount,
    0,
    "the hidden review's rating is not counted",
  );
});

t.test("a report being resolved by a suspension takes no other resolution meanwhile", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  await session.endSession({ reason: "", sessionId }, user.call);
  const asUser = {
    kind: "user",
    userId: user.userId,
    role: "user",
    sessionId: newId(),
    assurance: "aal1",
  } as const;
  const report = await harness.service.safety.fileReport(asUser, {
    targetKind: "person",
    targetId: expert.userId,
    reason: "harassment",
    note: "rude",
    requestId: newId(),
  });
  // Another moderator's suspension of the expert is under way in auth.
  await harness.sql`update sessions.reports set suspending_since = ${harness.clock.now} where id = ${report.id}`;
  const dismiss = () =>
    harness.service.safety.resolveReport(moderator, {
      reportId: report.id,
      resolution: "dismissed",
      note: "fine",
    });
  t.equal((await failure(dismiss())).reason, "REPORT_BEING_RESOLVED", "no dismissal beside a suspension");
  // Its answer never came: after ten minutes the report takes other resolutions again.
  harness.clock.advanceSeconds(601);
  t.equal((await dismiss()).resolution, "dismissed");
});
