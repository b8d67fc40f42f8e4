import postgres from "postgres";
import t, { type Test } from "tap";
import { type Api, PASSWORD, startPlatform } from "./harness";

/** A person given a staff role by the admin, signed in again so their token carries it. */
async function staff(t: Test, api: Api, role: "ROLE_SUPPORT" | "ROLE_MODERATOR" | "ROLE_ADMIN") {
  const admin = await api.adminToken();
  const account = await api.register();
  const set = await api.call("POST", `/v1/users/${account.userId}/role`, { token: admin, body: { role } });
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

    const sql = postgres(api.databaseUrl, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 5 }));
    await t.rejects(sql`update auth.audit_events set reason = 'rewritten'`, /append-only/, "no update");
    await t.rejects(sql`delete from auth.audit_events`, /append-only/, "no delete");
    await t.rejects(sql`truncate auth.audit_events`, /append-only/, "no truncate");
    const [{ count }] = await sql<[{ count: number }]>`select count(*)::int as count from auth.audit_events`;
    t.equal(count, 5, "three refusals and two role changes, all still there");
  },
);
