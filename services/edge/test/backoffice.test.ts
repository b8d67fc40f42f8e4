import { randomUUID } from "node:crypto";
import { eventually } from "@parley/testing";
import postgres from "postgres";
import t, { type Test } from "tap";
import { type Api, PASSWORD, startPlatform } from "./harness";
import { WsClient } from "./ws-client";

const RATE = 1000;

/** The harness's expert, online through a WebSocket (presence) and seen so by discovery. */
async function createExpert(t: Test, api: Api) {
  const expert = await api.expert({ maxConcurrentSessions: 2 });
  const socket = await WsClient.connect(api.url);
  t.teardown(() => socket.close());
  await socket.authenticate(expert.token);
  await eventually(
    () => api.call("GET", `/v1/experts/${expert.userId}`, {}),
    (r) => r.body.expert?.availability === "EXPERT_AVAILABILITY_AVAILABLE",
  );
  return { ...expert, socket };
}

/** A person with money in their wallet (the harness's signed development-provider top-up). */
async function fundedUser(api: Api, amountMinor: number) {
  const user = await api.register();
  await api.topUp(user.accessToken, amountMinor);
  return user;
}

/** A chat requested by the user and accepted by the expert: active, metering. */
async function activeChat(t: Test, api: Api, userToken: string, expertId: string, expertToken: string) {
  const requested = await api.call("POST", "/v1/sessions", {
    token: userToken,
    body: { expert_id: expertId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
  });
  t.equal(requested.status, 200, JSON.stringify(requested.body));
  const sessionId: string = requested.body.session.session_id;
  const accepted = await api.call("POST", `/v1/sessions/${sessionId}:accept`, {
    token: expertToken,
    body: {},
  });
  t.equal(accepted.body.session?.status, "SESSION_STATUS_ACTIVE", JSON.stringify(accepted.body));
  return sessionId;
}

/** A person given a staff role by the admin, signed in again so their token carries it. */
async function staff(t: Test, api: Api, role: "ROLE_SUPPORT" | "ROLE_MODERATOR" | "ROLE_ADMIN") {
  const admin = await api.adminToken();
  const account = await api.register();
  const set = await api.call("POST", `/v1/users/${account.userId}/role`, {
    token: admin,
    body: { role, reason: "joins staff" },
  });
  t.equal(set.status, 200, JSON.stringify(set.body));
  return { userId: account.userId, token: await api.login(account.email, PASSWORD) };
}

t.test(
  "the audit log: admins list it, other staff are refused and the refusal is recorded, the database keeps it append-only",
  async (t) => {
    const api = await startPlatform(t);
    const admin = await api.adminToken();
    const moderator = await staff(t, api, "ROLE_MODERATOR");
    const support = await staff(t, api, "ROLE_SUPPORT");
    const person = await api.register();

    for (const who of [moderator, support]) {
      const refused = await api.call("GET", "/v1/admin/audit-events", { token: who.token });
      t.equal(refused.status, 403, "only admins read the audit log");
    }
    const personRefused = await api.call("GET", "/v1/admin/audit-events", { token: person.accessToken });
    t.equal(personRefused.status, 403);

    const denied = await api.call(
      "GET",
      `/v1/admin/audit-events?outcome=AUDIT_OUTCOME_DENIED&actor_user_id=${moderator.userId}`,
      {
        token: admin,
      },
    );
    t.equal(denied.status, 200, JSON.stringify(denied.body));
    t.equal(denied.body.events.length, 1, "the moderator's refused attempt is recorded");
    t.match(denied.body.events[0], {
      actor_user_id: moderator.userId,
      actor_role: "ROLE_MODERATOR",
      method: "parley.auth.v1.BackOfficeService/ListAuditEvents",
      outcome: "AUDIT_OUTCOME_DENIED",
    });
    t.ok(denied.body.events[0].request_id, "with the request id");

    // Every refused call, newest first, paged by the kit's tokens.
    const first = await api.call("GET", "/v1/admin/audit-events?outcome=AUDIT_OUTCOME_DENIED&page_size=2", {
      token: admin,
    });
    t.equal(first.body.events.length, 2);
    t.ok(first.body.next_page_token);
    const second = await api.call(
      "GET",
      `/v1/admin/audit-events?outcome=AUDIT_OUTCOME_DENIED&page_size=2&page_token=${encodeURIComponent(first.body.next_page_token)}`,
      { token: admin },
    );
    t.equal(second.body.events.length, 1);
    t.equal(second.body.events[0].actor_user_id, moderator.userId, "the oldest last");
    t.equal(second.body.next_page_token, "");

    const roles = await api.call(
      "GET",
      `/v1/admin/audit-events?action=role.set&target_user_id=${moderator.userId}`,
      {
        token: admin,
      },
    );
    t.equal(roles.body.events.length, 1, "the role change is recorded");
    t.match(roles.body.events[0], {
      outcome: "AUDIT_OUTCOME_DONE",
      actor_role: "ROLE_ADMIN",
      method: "parley.auth.v1.AuthService/SetUserRole",
      before: { role: "user" },
      after: { role: "moderator" },
    });

    // Staff actions elsewhere in auth are recorded too; a revoked key stops working at once
    // (verifiers read the revocation within a second, not when their 30 s cache expires).
    const created = await api.call("POST", "/v1/api-keys", {
      token: admin,
      body: { partner_id: "acme", name: "sync", scopes: ["users:sync"], request_id: randomUUID() },
    });
    t.equal(created.status, 200);
    const sync = () =>
      api.call("POST", "/v1/partner/users:sync", {
        headers: { "x-api-key": created.body.secret },
        body: { record: { external_id: `acme-${randomUUID()}`, display_name: "Synced" } },
      });
    t.equal((await sync()).status, 200, "the key works");
    const revoked = await api.call("DELETE", `/v1/api-keys/${created.body.api_key.key_id}`, { token: admin });
    t.equal(revoked.status, 200);
    const started = Date.now();
    const refusedKey = await eventually(sync, (r) => r.status === 401);
    t.equal(refusedKey.status, 401, "a revoked key is refused");
    t.ok(Date.now() - started < 10_000, "within seconds, not the cache's 30");
    const adminId: string = (await api.call("GET", "/v1/me", { token: admin })).body.profile.user_id;
    const keyLog = await api.call(
      "GET",
      `/v1/admin/audit-events?actor_user_id=${adminId}&outcome=AUDIT_OUTCOME_DONE`,
      {
        token: admin,
      },
    );
    t.same(
      keyLog.body.events
        .map((e: { action: string }) => e.action)
        .filter((a: string) => a.startsWith("api_key.")),
      ["api_key.revoke", "api_key.create"],
      "key creation and revocation are audited",
    );

    // A refused call to auth's own staff RPCs is on the record as well.
    const promote = await api.call("POST", `/v1/users/${person.userId}/role`, {
      token: support.token,
      body: { role: "ROLE_ADMIN", reason: "let me in" },
    });
    t.equal(promote.status, 403, "support cannot give roles");
    const promoteLog = await api.call(
      "GET",
      `/v1/admin/audit-events?outcome=AUDIT_OUTCOME_DENIED&actor_user_id=${support.userId}&action=SetUserRole`,
      { token: admin },
    );
    t.match(promoteLog.body.events, [
      {
        method: "parley.auth.v1.AuthService/SetUserRole",
        target_user_id: person.userId,
        reason: "let me in",
      },
    ]);

    const sql = postgres(api.databaseUrl, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 5 }));
    await t.rejects(sql`update auth.audit_events set reason = 'rewritten'`, /append-only/, "no update");
    await t.rejects(sql`delete from auth.audit_events`, /append-only/, "no delete");
    await t.rejects(sql`truncate auth.audit_events`, /append-only/, "no truncate");
    const [{ count }] = await sql<[{ count: number }]>`select count(*)::int as count from auth.audit_events`;
    t.equal(count, 8, "four refusals, two role changes and two key actions, all still there");
  },
);

t.test(
  "suspension: a moderator cannot suspend (the refusal audited); support suspends a user whose socket closes, whose next call and login are refused, whose chat ends settled; an expert leaves discovery until unsuspended",
  async (t) => {
    const api = await startPlatform(t, {
      session: { MINUTE_SECONDS: "2", METERING_INTERVAL_MS: "200", MIN_MINUTES: "2" },
    });
    const admin = await api.adminToken();
    const moderator = await staff(t, api, "ROLE_MODERATOR");
    const support = await staff(t, api, "ROLE_SUPPORT");
    const expert = await createExpert(t, api);
    const user = await fundedUser(api, RATE * 10);
    const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);

    // The permission matrix: a moderator may not suspend; the attempt is on the record.
    const refused = await api.call("POST", `/v1/admin/people/${user.userId}:suspend`, {
      token: moderator.token,
      body: { reason: "rude in chat" },
    });
    t.equal(refused.status, 403);
    const deniedLog = await api.call(
      "GET",
      `/v1/admin/audit-events?action=person.suspend&outcome=AUDIT_OUTCOME_DENIED&target_user_id=${user.userId}`,
      { token: admin },
    );
    t.equal(deniedLog.body.events.length, 1, "the moderator's attempt is audited");
    t.match(deniedLog.body.events[0], { actor_user_id: moderator.userId, reason: "rude in chat" });

    const noReason = await api.call("POST", `/v1/admin/people/${user.userId}:suspend`, {
      token: support.token,
      body: { reason: "  " },
    });
    t.equal(noReason.status, 400, "a reason is required");

    const socket = await WsClient.connect(api.url);
    t.teardown(() => socket.close());
    await socket.authenticate(user.accessToken);

    const suspended = await api.call("POST", `/v1/admin/people/${user.userId}:suspend`, {
      token: support.token,
      body: { reason: "chargeback fraud" },
    });
    t.equal(suspended.status, 200, JSON.stringify(suspended.body));
    t.equal(suspended.body.account.status, "ACCOUNT_STATUS_SUSPENDED");

    const closed = await Promise.race([
      socket.closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    t.same(closed, { code: 4003, reason: "account_suspended" }, "their open socket is closed");
    const next = await api.call("GET", "/v1/me", { token: user.accessToken });
    t.equal(next.status, 401, "their next call is refused");
    t.equal(next.body.error.reason, "ACCOUNT_SUSPENDED");
    const refresh = await api.call("POST", "/v1/auth/token:refresh", {
      body: { refresh_token: user.refreshToken },
    });
    t.equal(refresh.status, 401, "their refresh token is dead");
    const login = await api.call("POST", "/v1/auth/login", {
      body: { identifier: user.email, password: PASSWORD },
    });
    t.equal(login.status, 403);
    t.equal(login.body.error.reason, "ACCOUNT_SUSPENDED", "login says why");

    const ended = await eventually(
      () => api.call("GET", `/v1/sessions/${sessionId}`, { token: expert.token }),
      (r) => r.body.session?.status === "SESSION_STATUS_ENDED" && Boolean(r.body.session?.invoice_id),
    );
    t.equal(ended.body.session.status, "SESSION_STATUS_ENDED", "the active chat ends");
    t.equal(ended.body.session.end_reason, "END_REASON_ACCOUNT_SUSPENDED");
    t.ok(ended.body.session.invoice_id, "and is settled (its invoice exists)");

    const doneLog = await api.call(
      "GET",
      `/v1/admin/audit-events?action=person.suspend&outcome=AUDIT_OUTCOME_DONE&target_user_id=${user.userId}`,
      { token: admin },
    );
    t.equal(doneLog.body.events.length, 1);
    t.match(doneLog.body.events[0], {
      actor_user_id: support.userId,
      actor_role: "ROLE_SUPPORT",
      reason: "chargeback fraud",
      before: { status: "active" },
      after: { status: "suspended" },
    });
    t.ok(doneLog.body.events[0].request_id);

    // An expert suspended leaves discovery; unsuspended, comes back and signs in again.
    const listed = async () =>
      (await api.call("GET", "/v1/experts?specialisation=vedic", { token: admin })).body.experts.some(
        (e: { user_id: string }) => e.user_id === expert.userId,
      );
    t.ok(await listed(), "the expert is discoverable");
    const expertOut = await api.call("POST", `/v1/admin/people/${expert.userId}:suspend`, {
      token: support.token,
      body: { reason: "fake credentials" },
    });
    t.equal(expertOut.status, 200);
    t.equal(await eventually(listed, (v) => !v), false, "a suspended expert vanishes from discovery");
    const direct = await eventually(
      () => api.call("GET", `/v1/experts/${expert.userId}`, {}),
      (r) => r.status === 404,
    );
    t.equal(direct.status, 404, "and cannot be looked up (nor requested)");
    const back = await api.call("POST", `/v1/admin/people/${expert.userId}:unsuspend`, {
      token: support.token,
      body: { reason: "credentials verified" },
    });
    t.equal(back.body.account.status, "ACCOUNT_STATUS_ACTIVE");
    t.equal(await eventually(listed, (v) => v), true, "unsuspended, the expert is back");
    t.ok(await api.login(expert.email, PASSWORD), "and signs in again");

    const staffTarget = await api.call("POST", `/v1/admin/people/${admin ? moderator.userId : ""}:suspend`, {
      token: support.token,
      body: { reason: "testing" },
    });
    t.equal(staffTarget.status, 403, "support cannot suspend staff");
  },
);

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
      paidMinutes <= Number(charged.body.session.minutes_charged) + 1,
      "no minute after the freeze was paid",
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

t.test(
  "account lifecycle: the export holds exactly the person's data; deletion is refused while a session is open, then erases them from every read while the ledger still balances",
  async (t) => {
    const api = await startPlatform(t, {
      session: { MINUTE_SECONDS: "2", METERING_INTERVAL_MS: "200", MIN_MINUTES: "2" },
    });
    const admin = await api.adminToken();
    const expert = await createExpert(t, api);
    const user = await fundedUser(api, RATE * 10);
    const other = await fundedUser(api, RATE * 7);
    const sessionId = await activeChat(t, api, user.accessToken, expert.userId, expert.token);
    const say = (token: string, text: string) =>
      api.call("POST", `/v1/sessions/${sessionId}/messages`, {
        token,
        body: { kind: "MESSAGE_KIND_TEXT", text, client_msg_id: randomUUID() },
      });
    t.equal((await say(user.accessToken, "my birth time is 6:40")).status, 200);
    t.equal((await say(expert.token, "the expert's own words")).status, 200);

    const busy = await api.call("POST", "/v1/me/account:delete", {
      token: user.accessToken,
      body: { password: PASSWORD },
    });
    t.equal(busy.body.error?.reason, "SESSION_ACTIVE", "no deletion while a session is open");
    t.equal(busy.body.error?.details?.metadata?.session_id, sessionId);
    const ended = await api.call("POST", `/v1/sessions/${sessionId}:end`, {
      token: user.accessToken,
      body: {},
    });
    t.equal(ended.status, 200);
    await eventually(
      () => api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken }),
      (r) => Boolean(r.body.session?.invoice_id),
    );

    // The export: theirs, and nobody else's.
    const exported = await api.call("GET", "/v1/me/export", { token: user.accessToken });
    t.equal(exported.status, 200, JSON.stringify(exported.body));
    const archive = exported.body.archive;
    t.equal(archive.format, "parley-export/1");
    t.equal(archive.account.userId, user.userId);
    t.equal(archive.account.email, user.email);
    t.equal(archive.profile.userId, user.userId);
    t.same(
      archive.sessions.map((s: { sessionId: string }) => s.sessionId),
      [sessionId],
      "their sessions",
    );
    t.same(
      archive.messages.map((m: { text: string }) => m.text),
      ["my birth time is 6:40"],
      "the messages they sent, not the expert's",
    );
    t.ok(archive.transactions.length >= 2, "their wallet postings (top-up, minutes)");
    t.equal(archive.invoices.length, 1, "their invoice");
    const text = JSON.stringify(archive);
    t.notOk(text.includes(other.userId), "nothing of another person");
    t.notOk(text.includes(other.email));
    t.notOk(text.includes("the expert's own words"));

    const wrong = await api.call("POST", "/v1/me/account:delete", {
      token: user.accessToken,
      body: { password: "not the password" },
    });
    t.equal(wrong.status, 401, "a fresh proof of presence is required");
    const socket = await WsClient.connect(api.url);
    t.teardown(() => socket.close());
    await socket.authenticate(user.accessToken);
    const deleted = await api.call("POST", "/v1/me/account:delete", {
      token: user.accessToken,
      body: { password: PASSWORD },
    });
    t.equal(deleted.status, 200, JSON.stringify(deleted.body));

    const closed = await Promise.race([
      socket.closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    t.same(closed, { code: 4003, reason: "account_deleted" }, "their socket is closed");
    const me = await api.call("GET", "/v1/me", { token: user.accessToken });
    t.equal(me.status, 401, "their tokens are dead");
    const login = await api.call("POST", "/v1/auth/login", {
      body: { identifier: user.email, password: PASSWORD },
    });
    t.equal(
      login.body.error?.reason,
      "INVALID_CREDENTIALS",
      "they cannot sign in: the account reads as unknown",
    );
    const seen = await eventually(
      () => api.call("GET", `/v1/users/${user.userId}`, { token: expert.token }),
      (r) => r.status === 404,
    );
    t.equal(seen.status, 404, "their profile is gone for others");
    const lines = await eventually(
      () => api.call("GET", `/v1/sessions/${sessionId}/messages`, { token: expert.token }),
      (r) => !r.body.messages?.some((m: { sender_id: string }) => m.sender_id === user.userId),
    );
    const theirs = lines.body.messages.find((m: { text: string }) => m.text === "my birth time is 6:40");
    t.ok(theirs, "the expert keeps the conversation");
    t.not(theirs.sender_id, user.userId, "but the line no longer names its author");
    t.match(theirs.sender_id, /^deleted:/);
    const byEmail = await api.call("GET", `/v1/admin/people?email=${encodeURIComponent(user.email)}`, {
      token: admin,
    });
    t.same(byEmail.body.people, [], "their email is erased");
    const staffView = await api.call("GET", `/v1/admin/people/${user.userId}?reason=audit`, { token: admin });
    t.match(staffView.body.person, {
      account: { status: "ACCOUNT_STATUS_DELETED", email: "" },
      display_name: "Deleted user",
    });
    const again = await api.register(user.email);
    t.not(again.userId, user.userId, "the address can open a new account");

    // The ledger keeps their postings and still balances.
    const sql = postgres(api.databaseUrl, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 5 }));
    const [{ entries }] = await sql<[{ entries: number }]>`
    select count(*)::int as entries from billing.entries e join billing.accounts a on a.id = e.account_id
    where a.owner_id = ${user.userId}`;
    t.ok(entries >= 2, "their postings are kept (the top-up, the minutes)");
    const unbalanced =
      await sql`select transaction_id from billing.entries group by transaction_id having sum(amount) <> 0`;
    t.same(unbalanced, [], "every transaction sums to zero");
    const drift = await sql`
    select a.id from billing.accounts a
    where a.kind in ('wallet', 'earnings')
      and a.balance <> coalesce((select sum(amount) from billing.entries where account_id = a.id), 0)`;
    t.same(drift, [], "every balance equals its postings");
  },
);
