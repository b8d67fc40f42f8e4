import { randomUUID } from "node:crypto";
import { eventuallyDefined } from "@parley/testing";
import t from "tap";
import { startPlatform } from "./harness";
import { staff } from "./people";
import { WsClient } from "./ws-client";

/**
 * Every staff action, whichever service does it (auth, billing, session, user), is on auth's one
 * audit log with its actor, action, target, reason and request id; a staff call a service's
 * permission map refuses is on it as denied. One platform for the whole file.
 */

t.test("staff actions in auth's audit log", async (t) => {
  const api = await startPlatform(t);
  const admin = await api.adminToken();
  const adminId = (JSON.parse(Buffer.from(admin.split(".")[1]!, "base64url").toString()) as { sub: string })
    .sub;
  const support = await staff(t, api, "ROLE_SUPPORT");
  const moderator = await staff(t, api, "ROLE_MODERATOR");
  /** The audit log as the admin lists it, filtered by a query string. */
  const audited = async (query: string) => {
    const listed = await api.call("GET", `/v1/admin/audit-events?${query}`, { token: admin });
    if (listed.status !== 200) throw new Error(`audit log: ${listed.status} ${JSON.stringify(listed.body)}`);
    return listed.body.events as Array<Record<string, unknown>>;
  };

  await t.test(
    "staff money actions: a credit grant is admin-only (support refused, and the refusal recorded; nobody credits themselves) and every grant is in auth's audit log with its request id",
    async (t) => {
      const person = await api.register();
      const grant = (token: string, userId: string, headers: Record<string, string> = {}) =>
        api.call("POST", `/v1/wallets/${userId}:grantCredit`, {
          token,
          headers,
          body: {
            amount: { amount_minor: "500", currency: "INR" },
            note: "goodwill",
            request_id: randomUUID(),
          },
        });

      t.equal(
        (await grant(support.token, support.userId)).status,
        403,
        "support cannot credit its own wallet",
      );
      t.equal((await grant(support.token, person.userId)).status, 403, "nor anyone's");
      const own = await grant(admin, adminId);
      t.equal(own.status, 400, JSON.stringify(own.body));
      t.match(
        JSON.stringify(own.body),
        /SELF_CREDIT_REFUSED/,
        "an admin cannot credit their own wallet either",
      );

      const requestId = `grant-${randomUUID()}`;
      const granted = await grant(admin, person.userId, { "x-request-id": requestId });
      t.equal(granted.status, 200, JSON.stringify(granted.body));
      const events = await audited(
        `action=wallet.grant_credit&target_user_id=${person.userId}&outcome=AUDIT_OUTCOME_DONE`,
      );
      t.equal(events.length, 1, "the grant is on the record");
      t.match(events[0], {
        actor_role: "ROLE_ADMIN",
        method: "parley.billing.v1.BillingService/GrantCredit",
        target_user_id: person.userId,
        reason: "goodwill",
        request_id: requestId,
        after: { note: "goodwill" },
      });
      const refused = await audited(
        `action=wallet.grant_credit&target_user_id=${person.userId}&outcome=AUDIT_OUTCOME_DENIED`,
      );
      t.equal(refused.length, 1, "support's refused grant is on the record as denied");
      t.match(refused[0], { actor_user_id: support.userId, actor_role: "ROLE_SUPPORT", reason: "goodwill" });
    },
  );

  await t.test(
    "people search: a one-letter prefix lists nobody (at least 3 characters, a phone 6), and every search is on the record with its query",
    async (t) => {
      const person = await api.register();
      for (const query of ["email=e", "email=ed", "phone=%2B9", "phone=%2B91", "name=ab"]) {
        const refused = await api.call("GET", `/v1/admin/people?${query}`, { token: moderator.token });
        t.equal(refused.status, 400, `${query} is too short`);
      }
      const prefix = person.email.slice(0, 12);
      const found = await api.call("GET", `/v1/admin/people?email=${encodeURIComponent(prefix)}`, {
        token: moderator.token,
      });
      t.equal(found.status, 200, JSON.stringify(found.body));
      t.ok(
        found.body.people.some((p: { user_id: string }) => p.user_id === person.userId),
        "a real prefix finds them",
      );
      const events = await audited(`action=person.search&actor_user_id=${moderator.userId}`);
      t.equal(events.length, 1, "the search is recorded");
      t.match(events[0], {
        actor_role: "ROLE_MODERATOR",
        method: "parley.auth.v1.BackOfficeService/SearchPeople",
        outcome: "AUDIT_OUTCOME_DONE",
        after: { query: { email: prefix.toLowerCase() } },
      });
    },
  );

  await t.test(
    "the session service's staff actions: a session ended, a review hidden, a report and a dispute resolved — each with its reason, target and request id; a moderator's refused dispute decision recorded as denied",
    async (t) => {
      const expert = await api.expert();
      const ws = await WsClient.connect(api.url);
      t.teardown(() => ws.close());
      await ws.authenticate(expert.token);
      const user = await api.register();
      const credited = await api.call("POST", `/v1/wallets/${user.userId}:grantCredit`, {
        token: admin,
        body: {
          amount: { amount_minor: "20000", currency: "INR" },
          note: "test funds",
          request_id: randomUUID(),
        },
      });
      t.equal(credited.status, 200, JSON.stringify(credited.body));
      const requested = await eventuallyDefined(async () => {
        const response = await api.call("POST", "/v1/sessions", {
          token: user.accessToken,
          body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
        });
        // The expert reads as offline until their socket's first presence report lands.
        return response.status === 200 ? response : undefined;
      }, "the expert to take requests");
      const sessionId: string = requested.body.session.session_id;
      const accepted = await api.call("POST", `/v1/sessions/${sessionId}:accept`, {
        token: expert.token,
        body: {},
      });
      t.equal(accepted.status, 200, JSON.stringify(accepted.body));

      // Staff end a session only with a reason.
      const endAsSupport = (body: Record<string, string>, headers: Record<string, string> = {}) =>
        api.call("POST", `/v1/sessions/${sessionId}:end`, { token: support.token, headers, body });
      const unexplained = await endAsSupport({});
      t.equal(unexplained.status, 400, JSON.stringify(unexplained.body));
      t.equal(unexplained.body.error.reason, "REASON_REQUIRED");
      const rambling = await endAsSupport({ reason: "x".repeat(1001) });
      t.equal(rambling.status, 400, JSON.stringify(rambling.body));
      t.equal(rambling.body.error.reason, "REASON_REQUIRED", "so is one over 1,000 characters");
      const still = await api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken });
      t.equal(still.body.session.status, "SESSION_STATUS_ACTIVE", "nothing was done");
      const endId = `end-${randomUUID()}`;
      const ended = await endAsSupport(
        { reason: "the expert's connection is stuck" },
        { "x-request-id": endId },
      );
      t.equal(ended.status, 200, JSON.stringify(ended.body));
      const endEvents = await audited(`action=session.end&target_user_id=${user.userId}`);
      t.equal(endEvents.length, 1, "the ending is on the record");
      t.match(endEvents[0], {
        actor_user_id: support.userId,
        actor_role: "ROLE_SUPPORT",
        method: "parley.session.v1.SessionService/EndSession",
        target_user_id: user.userId,
        reason: "the expert's connection is stuck",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: endId,
        after: { sessionId },
      });

      // A moderator hides the user's review of it.
      const reviewed = await api.call("POST", `/v1/sessions/${sessionId}/reviews`, {
        token: user.accessToken,
        body: { rating: 1, text: "call me at my number instead" },
      });
      t.equal(reviewed.status, 200, JSON.stringify(reviewed.body));
      const hideId = `hide-${randomUUID()}`;
      const hidden = await api.call("POST", `/v1/admin/moderation/reviews/${sessionId}:hide`, {
        token: moderator.token,
        headers: { "x-request-id": hideId },
        body: { note: "contact details in a review" },
      });
      t.equal(hidden.status, 200, JSON.stringify(hidden.body));
      const hideEvents = await audited(`action=review.hide&target_user_id=${user.userId}`);
      t.equal(hideEvents.length, 1, "the hidden review is on the record, its author the target");
      t.match(hideEvents[0], {
        actor_user_id: moderator.userId,
        actor_role: "ROLE_MODERATOR",
        method: "parley.session.v1.SafetyService/HideReview",
        reason: "contact details in a review",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: hideId,
        after: { sessionId },
      });

      // The user reports the session; a moderator dismisses it.
      const reported = await api.call("POST", "/v1/reports", {
        token: user.accessToken,
        body: {
          target_kind: "REPORT_TARGET_KIND_SESSION",
          target_id: sessionId,
          reason: "REPORT_REASON_HARASSMENT",
          note: "rude",
          request_id: randomUUID(),
        },
      });
      t.equal(reported.status, 200, JSON.stringify(reported.body));
      const reportId: string = reported.body.report.report_id;
      const resolveId = `resolve-${randomUUID()}`;
      const dismissed = await api.call("POST", `/v1/admin/moderation/reports/${reportId}:resolve`, {
        token: moderator.token,
        headers: { "x-request-id": resolveId },
        body: { resolution: "REPORT_RESOLUTION_DISMISSED", note: "polite enough" },
      });
      t.equal(dismissed.status, 200, JSON.stringify(dismissed.body));
      const reportEvents = await audited(`action=report.resolve&target_user_id=${expert.userId}`);
      t.equal(reportEvents.length, 1, "the decision is on the record, the reported person the target");
      t.match(reportEvents[0], {
        actor_user_id: moderator.userId,
        method: "parley.session.v1.SafetyService/ResolveReport",
        reason: "polite enough",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: resolveId,
        after: { reportId, note: "polite enough" },
      });

      // The user disputes it: a moderator may not decide (refused, and recorded as denied),
      // support refunds in full.
      const opened = await api.call("POST", `/v1/sessions/${sessionId}/dispute`, {
        token: user.accessToken,
        body: { reason: "DISPUTE_REASON_TECHNICAL_ISSUE", note: "it froze" },
      });
      t.equal(opened.status, 200, JSON.stringify(opened.body));
      const disputeId: string = opened.body.dispute.dispute_id;
      const decide = (token: string, note: string, headers: Record<string, string> = {}) =>
        api.call("POST", `/v1/admin/disputes/${disputeId}:resolve`, {
          token,
          headers,
          body: { decision: "DISPUTE_DECISION_FULL_REFUND", note },
        });
      const deniedId = `denied-${randomUUID()}`;
      const byModerator = await decide(moderator.token, "let me", { "x-request-id": deniedId });
      t.equal(byModerator.status, 403, "disputes are support's");
      const denied = await audited(`action=dispute.resolve&actor_user_id=${moderator.userId}`);
      t.equal(denied.length, 1, "the refused attempt is on the record");
      t.match(denied[0], {
        actor_role: "ROLE_MODERATOR",
        method: "parley.session.v1.SafetyService/ResolveDispute",
        reason: "let me",
        outcome: "AUDIT_OUTCOME_DENIED",
        request_id: deniedId,
        after: { disputeId },
      });
      const queue = await api.call("GET", "/v1/admin/disputes", { token: moderator.token });
      t.equal(queue.status, 403, "the dispute queue is support's too");
      const queueDenied = await audited(
        `action=ListDisputes&actor_user_id=${moderator.userId}&outcome=AUDIT_OUTCOME_DENIED`,
      );
      t.equal(queueDenied.length, 1, "a refused staff-only read is on the record by its RPC name");
      t.match(queueDenied[0], { method: "parley.session.v1.SafetyService/ListDisputes" });
      const unexplainedDecision = await decide(support.token, " ");
      t.equal(unexplainedDecision.body.error?.reason, "REASON_REQUIRED", "a blank note is no reason");
      const decideId = `decide-${randomUUID()}`;
      const refunded = await decide(support.token, "the session froze", { "x-request-id": decideId });
      t.equal(refunded.status, 200, JSON.stringify(refunded.body));
      const decided = await audited(`action=dispute.resolve&target_user_id=${user.userId}`);
      t.equal(decided.length, 1, "the decision is on the record, the disputing person the target");
      t.match(decided[0], {
        actor_user_id: support.userId,
        actor_role: "ROLE_SUPPORT",
        reason: "the session froze",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: decideId,
        after: { disputeId, note: "the session froze" },
      });
    },
  );

  await t.test(
    "the user service's staff actions: someone else's profile, expert profile and availability need a reason and are recorded; a person's own changes are not; a moderator's refused expert-profile edit is recorded as denied",
    async (t) => {
      const person = await api.register();
      const expert = await api.expert();
      const renamed = (token: string, reason: string, userId: string, headers: Record<string, string> = {}) =>
        api.call(
          "PATCH",
          `/v1/me?update_mask=display_name${reason ? `&reason=${encodeURIComponent(reason)}` : ""}`,
          { token, headers, body: { user_id: userId, display_name: "Renamed By Support" } },
        );
      const unexplained = await renamed(support.token, "", person.userId);
      t.equal(unexplained.status, 400, JSON.stringify(unexplained.body));
      t.equal(unexplained.body.error.reason, "REASON_REQUIRED");
      const renameId = `rename-${randomUUID()}`;
      const done = await renamed(support.token, "offensive display name", person.userId, {
        "x-request-id": renameId,
      });
      t.equal(done.status, 200, JSON.stringify(done.body));
      t.equal(done.body.profile.display_name, "Renamed By Support");
      const ownRename = await api.call("PATCH", "/v1/me?update_mask=display_name", {
        token: person.accessToken,
        body: { display_name: "My Own Name" },
      });
      t.equal(ownRename.status, 200, "a person needs no reason for their own profile");
      const profileEvents = await audited(`action=profile.update&target_user_id=${person.userId}`);
      t.equal(profileEvents.length, 1, "support's change is recorded, the person's own is not");
      t.match(profileEvents[0], {
        actor_user_id: support.userId,
        actor_role: "ROLE_SUPPORT",
        method: "parley.user.v1.UserService/UpdateProfile",
        reason: "offensive display name",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: renameId,
        after: { profile: { userId: person.userId, displayName: "Renamed By Support" } },
      });

      const availabilityId = `availability-${randomUUID()}`;
      const offline = await api.call("POST", "/v1/me/availability", {
        token: support.token,
        headers: { "x-request-id": availabilityId },
        body: {
          expert_id: expert.userId,
          availability: "EXPERT_AVAILABILITY_UNAVAILABLE",
          reason: "the expert asked by phone",
        },
      });
      t.equal(offline.status, 200, JSON.stringify(offline.body));
      const availabilityEvents = await audited(
        `action=expert.set_availability&target_user_id=${expert.userId}`,
      );
      t.equal(availabilityEvents.length, 1, "support's change is recorded, the expert's own are not");
      t.match(availabilityEvents[0], {
        actor_user_id: support.userId,
        method: "parley.user.v1.UserService/SetAvailability",
        reason: "the expert asked by phone",
        outcome: "AUDIT_OUTCOME_DONE",
        request_id: availabilityId,
      });

      const profile = {
        chat_rate: { amount_minor: "900", currency: "INR" },
        call_rate: { amount_minor: "1500", currency: "INR" },
        max_concurrent_sessions: 1,
        specialisations: ["vedic"],
        languages: ["en"],
        experience_years: 7,
        bio: "Reads charts.",
      };
      const setProfile = (token: string, reason: string, headers: Record<string, string> = {}) =>
        api.call("PUT", `/v1/experts/${expert.userId}/profile?reason=${encodeURIComponent(reason)}`, {
          token,
          headers,
          body: profile,
        });
      const deniedId = `denied-${randomUUID()}`;
      const byModerator = await setProfile(moderator.token, "lower the rate", { "x-request-id": deniedId });
      t.equal(byModerator.status, 403, "moderators do not set expert profiles");
      const upsertEvents = await audited(`action=expert.upsert&target_user_id=${expert.userId}`);
      t.equal(upsertEvents.length, 1, "the refused attempt is on the record, the expert's own edit is not");
      t.match(upsertEvents[0], {
        actor_user_id: moderator.userId,
        actor_role: "ROLE_MODERATOR",
        method: "parley.user.v1.UserService/UpsertExpertProfile",
        reason: "lower the rate",
        outcome: "AUDIT_OUTCOME_DENIED",
        request_id: deniedId,
      });
      const bySupport = await setProfile(support.token, "rate agreed by email");
      t.equal(bySupport.status, 200, JSON.stringify(bySupport.body));
      t.equal(
        (await audited(`action=expert.upsert&target_user_id=${expert.userId}&outcome=AUDIT_OUTCOME_DONE`))
          .length,
        1,
        "support's expert-profile edit is recorded",
      );
    },
  );
});
