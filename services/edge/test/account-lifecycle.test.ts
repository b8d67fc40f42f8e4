import { randomUUID } from "node:crypto";
import { eventually } from "@parley/testing";
import postgres from "postgres";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";
import { activeChat, createExpert, fundedUser, RATE } from "./people";
import { WsClient } from "./ws-client";

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
    t.same(archive.incomplete, [], "whole: no list was cut at the reading limit");
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
    // Each export reads everything they have: ten an hour.
    for (let i = 2; i <= 10; i++)
      t.equal(
        (await api.call("GET", "/v1/me/export", { token: user.accessToken })).status,
        200,
        `export ${i}`,
      );
    const spent = await api.call("GET", "/v1/me/export", { token: user.accessToken });
    t.equal(spent.status, 429, "the eleventh in the hour is refused");
    t.equal(spent.body.error.reason, "TOO_MANY_ATTEMPTS");
    t.ok(Number(spent.headers.get("retry-after")) > 0, "with Retry-After");

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
    const reported = await api.call("POST", "/v1/reports", {
      token: expert.token,
      body: {
        target_kind: "REPORT_TARGET_KIND_MESSAGE",
        target_id: theirs.message_id,
        reason: "REPORT_REASON_SPAM",
        request_id: "report-a-deleted-author",
      },
    });
    t.equal(reported.status, 404, "a line whose author is erased names nobody to report");
    t.equal(reported.body.error.reason, "REPORT_TARGET_NOT_FOUND");
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
