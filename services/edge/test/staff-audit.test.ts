import { randomUUID } from "node:crypto";
import t, { type Test } from "tap";
import { type Api, PASSWORD, startPlatform } from "./harness";

/**
 * Every staff action, whichever service does it (auth, billing), is on auth's one
 * audit log with its actor, action, target, reason and request id; a staff call a service's
 * permission map refuses is on it as denied. One platform for the whole file.
 */

/** A person given a staff role by the admin, signed in again so their token carries it. */
async function staff(t: Test, api: Api, admin: string, role: "ROLE_SUPPORT" | "ROLE_MODERATOR") {
  const account = await api.register();
  const set = await api.call("POST", `/v1/users/${account.userId}/role`, {
    token: admin,
    body: { role, reason: "joins staff" },
  });
  t.equal(set.status, 200, JSON.stringify(set.body));
  return { userId: account.userId, token: await api.login(account.email, PASSWORD) };
}

t.test("staff actions in auth's audit log", async (t) => {
  const api = await startPlatform(t);
  const admin = await api.adminToken();
  const adminId = (JSON.parse(Buffer.from(admin.split(".")[1]!, "base64url").toString()) as { sub: string })
    .sub;
  const support = await staff(t, api, admin, "ROLE_SUPPORT");
  const moderator = await staff(t, api, admin, "ROLE_MODERATOR");
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
});
