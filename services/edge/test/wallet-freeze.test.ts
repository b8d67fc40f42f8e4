import { randomUUID } from "node:crypto";
import { eventually } from "@parley/testing";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";
import { activeChat, createExpert, fundedUser, RATE, staff } from "./people";

t.test(
  "a frozen wallet pays no further minute (the chat ends as wallet_frozen) and no new hold, but a top-up still lands; unfrozen, it pays again",
  async (t) => {
    const api = await startPlatform(t, {
      session: { MINUTE_SECONDS: "2", METERING_INTERVAL_MS: "200", MIN_MINUTES: "2" },
    });
    const admin = await api.adminToken();
    const support = await staff(t, api, "ROLE_SUPPORT");
    const expert = await createExpert(t, api);
    const user = await fundedUser(api, RATE * 20);
    const wallet = () => api.call("GET", "/v1/me/wallet", { token: user.accessToken });
    const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
    const charged = await eventually(
      () => api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken }),
      (r) => (r.body.session?.minutes_charged ?? 0) >= 1,
    );
    t.ok(charged.body.session.minutes_charged >= 1, "minutes are paid before the freeze");

    // The back office's reads while the chat is live.
    const moderator = await staff(t, api, "ROLE_MODERATOR");
    const live = await api.call("GET", "/v1/admin/sessions:live", { token: moderator.token });
    t.equal(live.status, 200, JSON.stringify(live.body));
    t.ok(
      live.body.sessions.some((s: { session_id: string }) => s.session_id === sessionId),
      "live sessions list the chat",
    );
    const byEmail = await api.call(
      "GET",
      `/v1/admin/people?email=${encodeURIComponent(user.email.slice(0, 20))}`,
      {
        token: support.token,
      },
    );
    t.equal(byEmail.status, 200, JSON.stringify(byEmail.body));
    t.ok(
      byEmail.body.people.some((p: { user_id: string }) => p.user_id === user.userId),
      "found by the beginning of their email",
    );
    const named = await api.call("POST", "/v1/auth/register", {
      body: {
        email: `zed-${randomUUID()}@example.com`,
        phone: "+919812345678",
        password: PASSWORD,
        display_name: "Zebedee Quill",
      },
    });
    t.equal(named.status, 200, JSON.stringify(named.body));
    const byName = await eventually(
      () => api.call("GET", "/v1/admin/people?name=ebedee%20qu", { token: moderator.token }),
      (r) => r.body.people?.length === 1,
    );
    t.match(
      byName.body.people,
      [{ user_id: named.body.account.user_id, display_name: "Zebedee Quill" }],
      "by name",
    );
    const byPhone = await api.call("GET", "/v1/admin/people?phone=%2B9198123", { token: support.token });
    t.match(
      byPhone.body.people,
      [{ user_id: named.body.account.user_id, account: { phone: "+919812345678" } }],
      "by phone",
    );
    const ambiguous = await api.call("GET", "/v1/admin/people?name=ab&email=a", { token: support.token });
    t.equal(ambiguous.status, 400, "one query at a time");

    const keyed = await api.call("POST", "/v1/api-keys", {
      token: admin,
      body: { partner_id: "acme", name: "sync", scopes: ["users:sync"], request_id: randomUUID() },
    });
    t.equal(keyed.status, 200, JSON.stringify(keyed.body));
    const synced = await api.call("POST", "/v1/partner/users:sync", {
      headers: { "x-api-key": keyed.body.secret },
      body: { record: { external_id: "acme-42", display_name: "Synced Sam" } },
    });
    t.equal(synced.status, 200, JSON.stringify(synced.body));
    const byExternal = await api.call("GET", "/v1/admin/people?external_id=acme-42", {
      token: support.token,
    });
    t.match(
      byExternal.body.people,
      [{ partner_id: "acme", external_id: "acme-42", display_name: "Synced Sam" }],
      "by external id",
    );

    const viewed = await api.call(
      "GET",
      `/v1/admin/people/${user.userId}?reason=${encodeURIComponent("ticket 981")}`,
      {
        token: support.token,
      },
    );
    t.equal(viewed.status, 200, JSON.stringify(viewed.body));
    t.equal(viewed.body.person.account.user_id, user.userId);
    t.ok(viewed.body.wallet?.balance, "support sees the wallet");
    const modView = await api.call("GET", `/v1/admin/people/${user.userId}?reason=report`, {
      token: moderator.token,
    });
    t.equal(modView.status, 200);
    t.notOk(modView.body.wallet, "a moderator sees no money");
    const history = await api.call(
      "GET",
      `/v1/admin/people/${user.userId}/transactions?reason=ticket%20981&page_size=2`,
      { token: support.token },
    );
    t.equal(history.status, 200, JSON.stringify(history.body));
    t.equal(history.body.transactions.length, 2, "the ledger history, paged");
    t.ok(history.body.next_page_token);
    const sessionsOf = await api.call("GET", `/v1/admin/people/${user.userId}/sessions?reason=ticket%20981`, {
      token: support.token,
    });
    t.ok(
      sessionsOf.body.sessions.some((s: { session_id: string }) => s.session_id === sessionId),
      "their sessions",
    );
    const modLedger = await api.call("GET", `/v1/admin/people/${user.userId}/transactions?reason=x`, {
      token: moderator.token,
    });
    t.equal(modLedger.status, 403, "moderators cannot read ledgers");
    const views = await api.call(
      "GET",
      `/v1/admin/audit-events?target_user_id=${user.userId}&outcome=AUDIT_OUTCOME_DONE`,
      {
        token: admin,
      },
    );
    t.same(
      views.body.events.map((e: { action: string }) => e.action).sort(),
      ["person.ledger", "person.sessions", "person.view", "person.view"],
      "every view of their data is recorded",
    );

    // Minutes went on being paid during the reads above (a minute is 2 s here): count them now.
    const beforeFreeze = await api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken });
    const frozen = await api.call("POST", `/v1/admin/people/${user.userId}/wallet:freeze`, {
      token: support.token,
      body: { reason: "card reported stolen" },
    });
    t.equal(frozen.status, 200, JSON.stringify(frozen.body));
    t.equal(frozen.body.frozen, true);
    const frozenAt = (await wallet()).body.wallet;
    t.equal(frozenAt.frozen, true, "the wallet reads frozen");

    const ended = await eventually(
      () => api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken }),
      (r) => r.body.session?.status === "SESSION_STATUS_ENDED",
    );
    t.equal(ended.body.session.status, "SESSION_STATUS_ENDED", "the chat ends at its next minute");
    t.equal(ended.body.session.end_reason, "END_REASON_WALLET_FROZEN", "with a clear reason");
    const paidMinutes = Number(ended.body.session.minutes_charged);
    t.ok(
      paidMinutes <= Number(beforeFreeze.body.session.minutes_charged) + 1,
      `no minute after the freeze was paid (${paidMinutes} paid, ${beforeFreeze.body.session.minutes_charged} before it)`,
    );
    const afterEnd = (await wallet()).body.wallet;
    t.equal(afterEnd.balance.amount_minor, frozenAt.balance.amount_minor, "nothing left the frozen wallet");

    const refused = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(refused.body.error?.reason, "WALLET_FROZEN", "no new consultation (its hold is refused)");

    // A top-up still lands.
    const topUp = await api.call("POST", "/v1/me/topups", {
      token: user.accessToken,
      body: { amount: { amount_minor: String(RATE * 3), currency: "INR" }, request_id: randomUUID() },
    });
    const paid = await api.webhook({
      event_id: `evt_${randomUUID()}`,
      payment_id: topUp.body.payment.payment_id,
      status: "succeeded",
      amount_minor: RATE * 3,
      currency: "INR",
    });
    t.equal(paid.body.credited, true, "the top-up is credited");
    const toppedUp = (await wallet()).body.wallet;
    t.equal(
      BigInt(toppedUp.balance.amount_minor),
      BigInt(afterEnd.balance.amount_minor) + BigInt(RATE * 3),
      "into the frozen wallet",
    );
    t.equal(toppedUp.frozen, true);

    const log = await api.call(
      "GET",
      `/v1/admin/audit-events?action=wallet.freeze&target_user_id=${user.userId}`,
      {
        token: admin,
      },
    );
    t.match(log.body.events, [
      {
        outcome: "AUDIT_OUTCOME_DONE",
        reason: "card reported stolen",
        before: { wallet_frozen: false },
        after: { wallet_frozen: true },
      },
    ]);

    const thawed = await api.call("POST", `/v1/admin/people/${user.userId}/wallet:unfreeze`, {
      token: support.token,
      body: { reason: "card replaced" },
    });
    t.equal(thawed.body.frozen, false);
    const again = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(again.status, 200, "unfrozen, it pays again");
  },
);
