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
