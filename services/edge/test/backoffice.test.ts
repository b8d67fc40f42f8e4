import { randomUUID } from "node:crypto";
import { eventually } from "@parley/testing";
import postgres from "postgres";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";
import { activeChat, createExpert, fundedUser, RATE, staff } from "./people";
import { WsClient } from "./ws-client";

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
