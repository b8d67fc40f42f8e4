import { randomUUID } from "node:crypto";
import { eventuallyDefined } from "@parley/testing";
import t, { type Test } from "tap";
import { type Api, PASSWORD, startPlatform } from "./harness";
import { activeChat } from "./people";
import { WsClient } from "./ws-client";

/**
 * Trust and safety through the edge only, with every service running: blocks, the contact
 * filter and the moderation queue, a dispute refunded through billing, readable reviews.
 */

const RATE = 1000;

async function createExpert(t: Test, api: Api, admin: string) {
  const account = await api.register();
  await api.call("POST", `/v1/users/${account.userId}/role`, {
    token: admin,
    body: { role: "ROLE_EXPERT", reason: "an expert" },
  });
  const token = await api.login(account.email, PASSWORD);
  const profile = await api.call("PUT", `/v1/experts/${account.userId}/profile`, {
    token,
    body: {
      chat_rate: { amount_minor: String(RATE), currency: "INR" },
      call_rate: { amount_minor: "1500", currency: "INR" },
      max_concurrent_sessions: 10,
      specialisations: ["safety"],
      languages: ["en"],
      experience_years: 3,
      bio: "Listens.",
    },
  });
  t.equal(profile.status, 200, JSON.stringify(profile.body));
  await api.call("POST", "/v1/me/availability", {
    token,
    body: { availability: "EXPERT_AVAILABILITY_AVAILABLE" },
  });
  // Presence comes from an open socket.
  const ws = await WsClient.connect(api.url);
  t.teardown(() => ws.close());
  await ws.authenticate(token);
  return { userId: account.userId, token };
}

async function fundedUser(api: Api, admin: string) {
  const user = await api.register();
  const granted = await api.call("POST", `/v1/wallets/${user.userId}:grantCredit`, {
    token: admin,
    body: { amount: { amount_minor: String(RATE * 20), currency: "INR" }, request_id: randomUUID() },
  });
  if (granted.status !== 200) throw new Error(`grant failed: ${JSON.stringify(granted.body)}`);
  return user;
}

const send = (api: Api, token: string, sessionId: string, text: string) =>
  api.call("POST", `/v1/sessions/${sessionId}/messages`, {
    token,
    body: { kind: "MESSAGE_KIND_TEXT", text, client_msg_id: randomUUID() },
  });

const listed = async (api: Api, token: string, expertId: string) => {
  const experts = await api.call("GET", "/v1/experts?specialisation=safety", { token });
  return experts.body.experts.some((e: { user_id: string }) => e.user_id === expertId);
};

const inbox = async (api: Api, token: string) =>
  (await api.call("GET", "/v1/me/notifications", { token })).body.notifications as Array<{
    kind: string;
    data: Record<string, string>;
    body: string;
  }>;

t.test("trust and safety through the edge", async (t) => {
  const api = await startPlatform(t, {
    session: { METERING_INTERVAL_MS: "200", MIN_MINUTES: "2", CONTACT_FILTER: "flag" },
  });
  const admin = await api.adminToken();
  const expert = await createExpert(t, api, admin);

  await t.test("blocked pairs cannot meet by any path: request, message, discovery", async (t) => {
    // A user blocks the expert: the expert leaves the user's discovery and cannot be requested.
    const blocker = await fundedUser(api, admin);
    const bystander = await api.register();
    await eventuallyDefined(
      async () => ((await listed(api, blocker.accessToken, expert.userId)) ? true : undefined),
      "listing",
    );
    const blocked = await api.call("POST", "/v1/me/blocks", {
      token: blocker.accessToken,
      body: { user_id: expert.userId },
    });
    t.equal(blocked.status, 200, JSON.stringify(blocked.body));
    await eventuallyDefined(
      async () => ((await listed(api, blocker.accessToken, expert.userId)) ? undefined : true),
      "the blocked expert to leave the blocker's discovery",
    );
    t.ok(await listed(api, bystander.accessToken, expert.userId), "others still find the expert");
    const request = await api.call("POST", "/v1/sessions", {
      token: blocker.accessToken,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(request.status, 404, "the blocked expert cannot be requested");
    t.equal(request.body.error.reason, "EXPERT_NOT_FOUND", "to the blocker the expert is not there");
    const blocks = await api.call("GET", "/v1/me/blocks", { token: blocker.accessToken });
    t.same(
      blocks.body.blocks.map((b: { user_id: string }) => b.user_id),
      [expert.userId],
    );

    // The expert blocks a user in the middle of a chat: the chat ends, messages are refused,
    // and the user can neither request the expert nor find them.
    const user = await fundedUser(api, admin);
    const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
    t.equal((await send(api, user.accessToken, sessionId, "hello")).status, 200);
    const expertBlocks = await api.call("POST", "/v1/me/blocks", {
      token: expert.token,
      body: { user_id: user.userId },
    });
    t.equal(expertBlocks.status, 200);
    const session = await api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken });
    t.equal(session.body.session.status, "SESSION_STATUS_ENDED");
    t.equal(session.body.session.end_reason, "END_REASON_BLOCKED");
    const refused = await send(api, user.accessToken, sessionId, "are you there?");
    t.equal(refused.status, 400, "no message gets through");
    t.equal(refused.body.error.reason, "PARTICIPANT_BLOCKED");
    const expertRefused = await send(api, expert.token, sessionId, "goodbye");
    t.equal(expertRefused.status, 400, "not from the blocker either");
    const again = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(again.status, 404, "a blocked user cannot request the expert");
    await eventuallyDefined(
      async () => ((await listed(api, user.accessToken, expert.userId)) ? undefined : true),
      "the blocking expert to leave the blocked user's discovery",
    );

    // Lifting the block lets them meet again.
    const lifted = await api.call("DELETE", `/v1/me/blocks/${user.userId}`, { token: expert.token });
    t.equal(lifted.status, 200);
    await eventuallyDefined(
      async () => ((await listed(api, user.accessToken, expert.userId)) ? true : undefined),
      "relisting",
    );
    const met = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
    t.equal((await send(api, user.accessToken, met, "hello again")).status, 200);
    await api.call("POST", `/v1/sessions/${met}:end`, { token: user.accessToken, body: {} });
  });

  await t.test(
    "a message with contact details lands in the moderation queue; a moderator hides it",
    async (t) => {
      const user = await fundedUser(api, admin);
      const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
      const sent = await send(
        api,
        user.accessToken,
        sessionId,
        "call me on +91 98765 43210 or pay me at ravi@okaxis",
      );
      t.equal(sent.status, 200, JSON.stringify(sent.body));
      t.equal(sent.body.message.flagged, true, "flagged, delivered as written (CONTACT_FILTER=flag)");
      t.equal((await send(api, user.accessToken, sessionId, "thanks, see you")).body.message.flagged, false);
      const linked = await api.call("POST", `/v1/sessions/${sessionId}/messages`, {
        token: user.accessToken,
        body: {
          kind: "MESSAGE_KIND_IMAGE",
          attachment_url: "https://wa.me/919876543210",
          attachment_content_type: "image/png",
          client_msg_id: randomUUID(),
        },
      });
      t.equal(linked.body.message?.flagged, true, "an attachment linking off Parley is flagged too");

      const user2 = await api.register();
      const denied = await api.call("GET", "/v1/admin/moderation/reports", { token: user2.accessToken });
      t.equal(denied.status, 403, "the queue is for moderators");
      const queue = await api.call(
        "GET",
        "/v1/admin/moderation/reports?source=REPORT_SOURCE_CONTACT_FILTER",
        {
          token: admin,
        },
      );
      t.equal(queue.status, 200, JSON.stringify(queue.body));
      const flagged = queue.body.reports.find(
        (r: { target_id: string }) => r.target_id === sent.body.message.message_id,
      );
      t.ok(flagged, "the flagged message is in the queue");
      t.match(flagged, {
        target_kind: "REPORT_TARGET_KIND_MESSAGE",
        subject_user_id: user.userId,
        session_id: sessionId,
        reason: "REPORT_REASON_OFF_PLATFORM",
        source: "REPORT_SOURCE_CONTACT_FILTER",
        status: "REPORT_STATUS_OPEN",
        content: /98765 43210/,
      });
      t.match(flagged.note, /phone/);
      t.match(flagged.note, /payment handle/);

      const resolved = await api.call("POST", `/v1/admin/moderation/reports/${flagged.report_id}:resolve`, {
        token: admin,
        body: { resolution: "REPORT_RESOLUTION_CONTENT_HIDDEN", note: "contact details" },
      });
      t.equal(resolved.status, 200, JSON.stringify(resolved.body));
      t.equal(resolved.body.report.status, "REPORT_STATUS_RESOLVED");
      const messages = await api.call("GET", `/v1/sessions/${sessionId}/messages`, { token: expert.token });
      const hidden = messages.body.messages.find(
        (m: { message_id: string }) => m.message_id === sent.body.message.message_id,
      );
      t.equal(hidden.hidden, true);
      t.equal(hidden.text, "", "participants no longer read it");
      const ws = await WsClient.connect(api.url);
      t.teardown(() => ws.close());
      await ws.authenticate(user.accessToken);
      ws.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
      const replayed = await ws.waitFor((f) => f.event?.message?.message_id === sent.body.message.message_id);
      t.equal(replayed.event.message.text, "", "nor does the session's replay");
      t.equal(replayed.event.message.hidden, true);
      const suspend = await api.call("POST", `/v1/admin/moderation/reports/${flagged.report_id}:resolve`, {
        token: admin,
        body: { resolution: "REPORT_RESOLUTION_DISMISSED", note: "changed my mind" },
      });
      t.equal(suspend.status, 400, "a report is resolved once");
      await api.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.accessToken, body: {} });

      // A person's report: the reporter hears the outcome, the reported person the warning.
      const report = {
        token: user.accessToken,
        body: {
          target_kind: "REPORT_TARGET_KIND_SESSION",
          target_id: sessionId,
          reason: "REPORT_REASON_HARASSMENT",
          note: "rude",
          request_id: "r1",
        },
      };
      const reported = await api.call("POST", "/v1/reports", report);
      t.equal(reported.status, 200, JSON.stringify(reported.body));
      t.equal(reported.body.report.subject_user_id, expert.userId);
      const retried = await api.call("POST", "/v1/reports", report);
      t.equal(retried.body.report.report_id, reported.body.report.report_id, "idempotent by request_id");
      const stranger = await api.call("POST", "/v1/reports", {
        token: user2.accessToken,
        body: {
          target_kind: "REPORT_TARGET_KIND_SESSION",
          target_id: sessionId,
          reason: "REPORT_REASON_SPAM",
          request_id: "r2",
        },
      });
      t.equal(stranger.status, 404, "only a participant reports a session");
      const warned = await api.call(
        "POST",
        `/v1/admin/moderation/reports/${reported.body.report.report_id}:resolve`,
        {
          token: admin,
          body: { resolution: "REPORT_RESOLUTION_WARNED", note: "Be courteous to clients." },
        },
      );
      t.equal(warned.status, 200, JSON.stringify(warned.body));
      const outcome = await eventuallyDefined(
        async () =>
          (await inbox(api, user.accessToken)).find((n) => n.kind === "NOTIFICATION_KIND_REPORT_RESOLVED"),
        "the reporter's notification",
      );
      t.equal(outcome.data.resolution, "warned");
      t.match(outcome.body, /warned/);
      const warning = await eventuallyDefined(
        async () =>
          (await inbox(api, expert.token)).find((n) => n.kind === "NOTIFICATION_KIND_MODERATION_WARNING"),
        "the warning",
      );
      t.match(warning.body, /Be courteous/);
    },
  );

  await t.test(
    "suspending from the queue is the back office's: a moderator is refused, an admin suspends",
    async (t) => {
      const reporter = await api.register();
      const troll = await api.register();
      const moderatorAccount = await api.register();
      const promoted = await api.call("POST", `/v1/users/${moderatorAccount.userId}/role`, {
        token: admin,
        body: { role: "ROLE_MODERATOR", reason: "joins moderation" },
      });
      t.equal(promoted.status, 200, JSON.stringify(promoted.body));
      const moderator = await api.login(moderatorAccount.email, PASSWORD);
      const report = await api.call("POST", "/v1/reports", {
        token: reporter.accessToken,
        body: {
          target_kind: "REPORT_TARGET_KIND_PERSON",
          target_id: troll.userId,
          reason: "REPORT_REASON_FRAUD",
          note: "asked me to pay outside",
          request_id: randomUUID(),
        },
      });
      t.equal(report.status, 200, JSON.stringify(report.body));
      const reportId = report.body.report.report_id;
      const queue = await api.call("GET", "/v1/admin/moderation/reports", { token: moderator });
      t.equal(queue.status, 200, "moderators work the queue");
      t.ok(queue.body.reports.some((r: { report_id: string }) => r.report_id === reportId));
      const bySupportRules = await api.call("POST", `/v1/admin/moderation/reports/${reportId}:resolve`, {
        token: moderator,
        body: { resolution: "REPORT_RESOLUTION_SUSPENDED", note: "fraud" },
      });
      t.equal(bySupportRules.status, 403, "a moderator may not suspend (the back office's matrix)");
      const hidePerson = await api.call("POST", `/v1/admin/moderation/reports/${reportId}:resolve`, {
        token: moderator,
        body: { resolution: "REPORT_RESOLUTION_CONTENT_HIDDEN", note: "?" },
      });
      t.equal(hidePerson.body.error.reason, "NOTHING_TO_HIDE");
      const suspended = await api.call("POST", `/v1/admin/moderation/reports/${reportId}:resolve`, {
        token: admin,
        // The longest note a staff member may give: the suspension it asks of auth names the report too.
        body: { resolution: "REPORT_RESOLUTION_SUSPENDED", note: "fraud confirmed".padEnd(1000, ".") },
      });
      t.equal(suspended.status, 200, JSON.stringify(suspended.body));
      t.equal(suspended.body.report.resolution, "REPORT_RESOLUTION_SUSPENDED");
      const login = await api.call("POST", "/v1/auth/login", {
        body: { identifier: troll.email, password: PASSWORD },
      });
      t.equal(login.body.error?.reason, "ACCOUNT_SUSPENDED", "the reported person is suspended");
      const told = await eventuallyDefined(
        async () =>
          (await inbox(api, reporter.accessToken)).find(
            (n) => n.kind === "NOTIFICATION_KIND_REPORT_RESOLVED",
          ),
        "the reporter's notification",
      );
      t.equal(told.data.resolution, "suspended");
    },
  );

  await t.test(
    "a dispute where the expert never replied: full refund proposed, approved, refunded, told",
    async (t) => {
      const user = await fundedUser(api, admin);
      const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
      t.equal((await send(api, user.accessToken, sessionId, "hello? anyone?")).status, 200);
      const ended = await api.call("POST", `/v1/sessions/${sessionId}:end`, {
        token: user.accessToken,
        body: {},
      });
      t.equal(ended.status, 200, JSON.stringify(ended.body));
      const charged = BigInt(ended.body.session.minutes_charged) * BigInt(RATE);
      t.ok(charged > 0n, "at least a minute was charged");

      const byExpert = await api.call("POST", `/v1/sessions/${sessionId}/dispute`, {
        token: expert.token,
        body: { reason: "DISPUTE_REASON_OTHER" },
      });
      t.equal(byExpert.status, 403, "the paying user disputes, not the expert");
      const opened = await api.call("POST", `/v1/sessions/${sessionId}/dispute`, {
        token: user.accessToken,
        body: { reason: "DISPUTE_REASON_EXPERT_UNRESPONSIVE", note: "No answer at all." },
      });
      t.equal(opened.status, 200, JSON.stringify(opened.body));
      const dispute = opened.body.dispute;
      t.equal(dispute.status, "DISPUTE_STATUS_OPEN");
      t.equal(dispute.proposed_outcome, "PROPOSED_OUTCOME_FULL_REFUND");
      t.equal(dispute.proposed_rule, "expert_no_reply");
      t.equal(dispute.proposed_refund.amount_minor, charged.toString());
      t.equal(dispute.evidence.minutes_charged, ended.body.session.minutes_charged);
      t.equal(dispute.evidence.rate.amount_minor, String(RATE));
      t.equal(dispute.evidence.user_messages, 1);
      t.equal(dispute.evidence.expert_messages, 0, "the expert wrote nothing");
      t.equal(dispute.evidence.expert_first_response_seconds, undefined);
      t.same(
        dispute.evidence.messages.map((m: { sender_id: string }) => m.sender_id),
        [user.userId],
      );
      const twice = await api.call("POST", `/v1/sessions/${sessionId}/dispute`, {
        token: user.accessToken,
        body: { reason: "DISPUTE_REASON_OTHER" },
      });
      t.equal(
        twice.body.dispute?.dispute_id,
        dispute.dispute_id,
        `one dispute per session ${JSON.stringify(twice.body)}`,
      );
      await eventuallyDefined(
        async () =>
          (await inbox(api, user.accessToken)).find((n) => n.kind === "NOTIFICATION_KIND_DISPUTE_OPENED"),
        "the dispute received notice",
      );

      const queue = await api.call("GET", "/v1/admin/disputes", { token: admin });
      t.ok(queue.body.disputes.some((d: { dispute_id: string }) => d.dispute_id === dispute.dispute_id));
      t.equal((await api.call("GET", "/v1/admin/disputes", { token: user.accessToken })).status, 403);
      const walletBefore = await api.call("GET", "/v1/me/wallet", { token: user.accessToken });
      const resolve = () =>
        api.call("POST", `/v1/admin/disputes/${dispute.dispute_id}:resolve`, {
          token: admin,
          body: { decision: "DISPUTE_DECISION_FULL_REFUND", note: "The expert never answered." },
        });
      const resolved = await resolve();
      t.equal(resolved.status, 200, JSON.stringify(resolved.body));
      t.equal(resolved.body.dispute.status, "DISPUTE_STATUS_REFUNDED_FULL");
      t.equal(resolved.body.dispute.refunded.amount_minor, charged.toString());
      const retried = await resolve();
      t.equal(retried.status, 200, "approving again changes nothing");
      t.equal(retried.body.dispute.refund_id, resolved.body.dispute.refund_id);

      // The ledger shows one reversal, and the wallet has the money back.
      const ledger = await api.call("GET", "/v1/me/transactions", { token: user.accessToken });
      const refunds = ledger.body.transactions.filter(
        (x: { type: string }) => x.type === "TRANSACTION_TYPE_REFUND",
      );
      t.equal(refunds.length, 1, "refunded once");
      t.equal(refunds[0].amount.amount_minor, charged.toString());
      const walletAfter = await api.call("GET", "/v1/me/wallet", { token: user.accessToken });
      t.equal(
        BigInt(walletAfter.body.wallet.balance.amount_minor) -
          BigInt(walletBefore.body.wallet.balance.amount_minor),
        charged,
      );
      const told = await eventuallyDefined(
        async () =>
          (await inbox(api, user.accessToken)).find((n) => n.kind === "NOTIFICATION_KIND_DISPUTE_RESOLVED"),
        "the dispute resolved notice",
      );
      t.equal(told.data.status, "refunded_full");
      t.equal(told.data.amount_minor, charged.toString());
      const seen = await api.call("GET", `/v1/sessions/${sessionId}/dispute`, { token: user.accessToken });
      t.equal(seen.body.dispute.status, "DISPUTE_STATUS_REFUNDED_FULL");
    },
  );

  await t.test(
    "reviews: public, newest first, rating filter, one reply, hidden by a moderator",
    async (t) => {
      const reviewed: Array<{
        sessionId: string;
        rating: number;
        user: { accessToken: string; userId: string };
      }> = [];
      for (const rating of [2, 5, 4]) {
        const user = await fundedUser(api, admin);
        const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
        await send(api, expert.token, sessionId, "Welcome!");
        await api.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.accessToken, body: {} });
        const review = await api.call("POST", `/v1/sessions/${sessionId}/reviews`, {
          token: user.accessToken,
          body: { rating, text: `${rating} stars` },
        });
        t.equal(review.status, 200, JSON.stringify(review.body));
        reviewed.push({ sessionId, rating, user });
      }
      const all = await api.call("GET", `/v1/experts/${expert.userId}/reviews?page_size=2`);
      t.equal(all.status, 200, "anyone reads reviews");
      t.same(
        all.body.reviews.map((r: { rating: number }) => r.rating),
        [4, 5],
        "newest first",
      );
      const rest = await api.call(
        "GET",
        `/v1/experts/${expert.userId}/reviews?page_size=2&page_token=${encodeURIComponent(all.body.next_page_token)}`,
      );
      t.same(
        rest.body.reviews.map((r: { rating: number }) => r.rating),
        [2],
      );
      const fives = await api.call("GET", `/v1/experts/${expert.userId}/reviews?rating=5`);
      t.same(
        fives.body.reviews.map((r: { session_id: string }) => r.session_id),
        [reviewed[1]!.sessionId],
      );

      const reply = () =>
        api.call("POST", `/v1/sessions/${reviewed[0]!.sessionId}/review:reply`, {
          token: expert.token,
          body: { text: "Sorry it did not help; let us try again." },
        });
      t.equal((await reply()).status, 200);
      t.equal((await reply()).status, 409, "one reply per review");
      const fromUser = await api.call("POST", `/v1/sessions/${reviewed[0]!.sessionId}/review:reply`, {
        token: reviewed[0]!.user.accessToken,
        body: { text: "me too" },
      });
      t.equal(fromUser.status, 403);
      const withReply = await api.call("GET", `/v1/experts/${expert.userId}/reviews?rating=2`);
      t.equal(withReply.body.reviews[0].reply, "Sorry it did not help; let us try again.");

      const before = (await api.call("GET", `/v1/experts/${expert.userId}`)).body.expert;
      const notModerator = await api.call(
        "POST",
        `/v1/admin/moderation/reviews/${reviewed[0]!.sessionId}:hide`,
        {
          token: expert.token,
          body: { note: "unfair" },
        },
      );
      t.equal(notModerator.status, 403);
      const hidden = await api.call("POST", `/v1/admin/moderation/reviews/${reviewed[0]!.sessionId}:hide`, {
        token: admin,
        body: { note: "Personal attack." },
      });
      t.equal(hidden.status, 200, JSON.stringify(hidden.body));
      const after = await api.call("GET", `/v1/experts/${expert.userId}/reviews`);
      t.same(
        after.body.reviews.map((r: { rating: number }) => r.rating),
        [4, 5],
        "the hidden review is gone from the public list",
      );
      const summary = await eventuallyDefined(async () => {
        const expertNow = (await api.call("GET", `/v1/experts/${expert.userId}`)).body.expert;
        return expertNow.rating_count === before.rating_count - 1 ? expertNow : undefined;
      }, "the rating summary to be recomputed");
      t.equal(summary.rating_average, 4.5, "(5 + 4) / 2");

      // The expert rates the user: experts and staff see it, users do not.
      const rated = await api.call("POST", `/v1/sessions/${reviewed[1]!.sessionId}/userRating`, {
        token: expert.token,
        body: { rating: 4, text: "Polite." },
      });
      t.equal(rated.status, 200, JSON.stringify(rated.body));
      const userId = reviewed[1]!.user.userId;
      const asExpert = await api.call("GET", `/v1/users/${userId}/rating`, { token: expert.token });
      t.same(asExpert.body, { rating_average: 4, rating_count: 1 });
      t.equal((await api.call("GET", `/v1/users/${userId}/rating`, { token: admin })).status, 200);
      const asUser = await api.call("GET", `/v1/users/${userId}/rating`, {
        token: reviewed[1]!.user.accessToken,
      });
      t.equal(asUser.status, 403, "users do not see users' ratings");
    },
  );
  await t.test(
    "the expert dashboard: this month's figures, kept as sessions end and reviews arrive",
    async (t) => {
      const fresh = await createExpert(t, api, admin);
      const a = await fundedUser(api, admin);
      const b = await fundedUser(api, admin);
      for (const [user, rating] of [
        [a, 4],
        [a, 0],
        [b, 2],
      ] as const) {
        const sessionId = await activeChat(t, api, user.accessToken, fresh.userId, fresh.token);
        t.equal((await send(api, fresh.token, sessionId, "Hello, I am here.")).status, 200);
        await api.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.accessToken, body: {} });
        if (rating)
          await api.call("POST", `/v1/sessions/${sessionId}/reviews`, {
            token: user.accessToken,
            body: { rating, text: "ok" },
          });
      }
      const declined = await api.call("POST", "/v1/sessions", {
        token: b.accessToken,
        body: { expert_id: fresh.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
      });
      await api.call("POST", `/v1/sessions/${declined.body.session.session_id}:decline`, {
        token: fresh.token,
        body: {},
      });

      const dashboard = await api.call("GET", `/v1/experts/${fresh.userId}/dashboard`, {
        token: fresh.token,
      });
      t.equal(dashboard.status, 200, JSON.stringify(dashboard.body));
      t.match(dashboard.body, {
        sessions_this_month: 4,
        completed_this_month: 3,
        rating_average_this_month: 3,
        ratings_this_month: 2,
        repeat_client_rate: 0.5,
      });
      t.ok(Number(dashboard.body.median_first_response_seconds) >= 0, "a median first response");
      t.ok(Date.parse(dashboard.body.last_active_at) > Date.now() - 60_000, "active just now");
      t.equal(
        (await api.call("GET", `/v1/experts/${fresh.userId}/dashboard`, { token: a.accessToken })).status,
        403,
      );
      t.equal((await api.call("GET", `/v1/experts/${fresh.userId}/dashboard`, { token: admin })).status, 200);
      // The public part reaches the expert's profile.
      const profile = await eventuallyDefined(async () => {
        const expert = (await api.call("GET", `/v1/experts/${fresh.userId}`)).body.expert;
        return expert.metrics?.completed_sessions_this_month === 3 ? expert : undefined;
      }, "the public figures on the profile");
      t.equal(profile.metrics.repeat_client_rate, 0.5);
      t.ok(Number(profile.metrics.median_first_response_seconds) >= 0);
      t.notOk("last_active_at" in profile.metrics, "what is not public stays on the dashboard");
    },
  );
});
