import { randomUUID } from "node:crypto";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";

t.test(
  "staff money actions: a credit grant is admin-only (support refused, nobody credits themselves) and every grant is in auth's audit log with its request id",
  async (t) => {
    const api = await startPlatform(t);
    const admin = await api.adminToken();
    const person = await api.register();
    const supportAccount = await api.register();
    const set = await api.call("POST", `/v1/users/${supportAccount.userId}/role`, {
      token: admin,
      body: { role: "ROLE_SUPPORT", reason: "joins support" },
    });
    t.equal(set.status, 200, JSON.stringify(set.body));
    const support = await api.login(supportAccount.email, PASSWORD);
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
      (await grant(support, supportAccount.userId)).status,
      403,
      "support cannot credit its own wallet",
    );
    t.equal((await grant(support, person.userId)).status, 403, "nor anyone's");
    const adminId = (JSON.parse(Buffer.from(admin.split(".")[1]!, "base64url").toString()) as { sub: string })
      .sub;
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
    const events = await api.call(
      "GET",
      `/v1/admin/audit-events?action=wallet.grant_credit&target_user_id=${person.userId}`,
      { token: admin },
    );
    t.equal(events.status, 200, JSON.stringify(events.body));
    t.equal(events.body.events.length, 1, "the grant is on the record");
    t.match(events.body.events[0], {
      actor_role: "ROLE_ADMIN",
      method: "parley.billing.v1.BillingService/GrantCredit",
      target_user_id: person.userId,
      reason: "goodwill",
      outcome: "AUDIT_OUTCOME_DONE",
      request_id: requestId,
      after: { note: "goodwill" },
    });
  },
);

t.test(
  "people search: a one-letter prefix lists nobody (at least 3 characters, a phone 6), and every search is on the record with its query",
  async (t) => {
    const api = await startPlatform(t);
    const admin = await api.adminToken();
    const person = await api.register();
    const moderatorAccount = await api.register();
    const set = await api.call("POST", `/v1/users/${moderatorAccount.userId}/role`, {
      token: admin,
      body: { role: "ROLE_MODERATOR", reason: "joins moderation" },
    });
    t.equal(set.status, 200, JSON.stringify(set.body));
    const moderator = await api.login(moderatorAccount.email, PASSWORD);

    for (const query of ["email=e", "email=ed", "phone=%2B9", "phone=%2B91", "name=ab"]) {
      const refused = await api.call("GET", `/v1/admin/people?${query}`, { token: moderator });
      t.equal(refused.status, 400, `${query} is too short`);
    }
    const prefix = person.email.slice(0, 12);
    const found = await api.call("GET", `/v1/admin/people?email=${encodeURIComponent(prefix)}`, {
      token: moderator,
    });
    t.equal(found.status, 200, JSON.stringify(found.body));
    t.ok(
      found.body.people.some((p: { user_id: string }) => p.user_id === person.userId),
      "a real prefix finds them",
    );
    const events = await api.call(
      "GET",
      `/v1/admin/audit-events?action=person.search&actor_user_id=${moderatorAccount.userId}`,
      { token: admin },
    );
    t.equal(events.status, 200, JSON.stringify(events.body));
    t.equal(events.body.events.length, 1, "the search is recorded");
    t.match(events.body.events[0], {
      actor_role: "ROLE_MODERATOR",
      method: "parley.auth.v1.BackOfficeService/SearchPeople",
      outcome: "AUDIT_OUTCOME_DONE",
      after: { query: { email: prefix.toLowerCase() } },
    });
  },
);
