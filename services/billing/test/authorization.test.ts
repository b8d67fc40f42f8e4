import { newId } from "@parley/kit/ids";
import { RefundReason, SessionKind } from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);

h.test("people see only their own wallet and history; staff see anyone's", async (t) => {
  const alice = await h.user();
  const bob = await h.user();
  await h.fund(alice.userId, 1234n);
  const peek = await failure(
    h.client.getWallet({ userId: alice.userId, currency: "", rateMinor: 0n }, bob.call),
  );
  t.equal(peek.kind, "permission_denied");
  const history = await failure(
    h.client.listTransactions(
      { userId: alice.userId, account: 0, currency: "", pageSize: 0, pageToken: "" },
      bob.call,
    ),
  );
  t.equal(history.kind, "permission_denied");
  const invoices = await failure(
    h.client.listInvoices({ userId: alice.userId, pageSize: 0, pageToken: "" }, bob.call),
  );
  t.equal(invoices.kind, "permission_denied");
  const asStaff = await h.client.getWallet(
    { userId: alice.userId, currency: "", rateMinor: 0n },
    h.as.operator,
  );
  t.same(asStaff.wallet?.balance, inr(1234n));
  t.equal(
    (await failure(h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }))).kind,
    "unauthenticated",
  );
});

h.test("earnings are for experts (their own) and staff", async (t) => {
  const user = await h.user();
  const expert = await h.user("expert");
  t.equal(
    (await failure(h.client.getEarnings({ expertUserId: "", currency: "" }, user.call))).kind,
    "permission_denied",
  );
  const other = await failure(h.client.getEarnings({ expertUserId: newId(), currency: "" }, expert.call));
  t.equal(other.kind, "permission_denied");
  const own = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.same(own.earnings?.balance, inr(0n));
});

h.test("holds, charges and settlement only from the session service", async (t) => {
  const user = await h.user();
  await h.fund(user.userId, 5000n);
  const callers = [user.call, h.as.edge, h.as.operator, { bearerToken: await h.issuer.serviceToken("user") }];
  for (const caller of callers) {
    const hold = await failure(
      h.client.placeHold(
        {
          userId: user.userId,
          amount: inr(100n),
          requestId: newId(),
          reference: "session:x",
          ttlSeconds: 60n,
        },
        caller,
      ),
    );
    t.equal(hold.kind, "permission_denied");
    const charge = await failure(
      h.client.charge(
        {
          sessionId: newId(),
          minute: 1n,
          payerUserId: user.userId,
          payeeUserId: newId(),
          amount: inr(100n),
          holdId: "",
        },
        caller,
      ),
    );
    t.equal(charge.kind, "permission_denied");
    const settle = await failure(
      h.client.settleSession(
        {
          sessionId: newId(),
          payerUserId: user.userId,
          payeeUserId: newId(),
          holdId: "",
          rate: inr(100n),
          kind: SessionKind.SESSION_KIND_CHAT,
        },
        caller,
      ),
    );
    t.equal(settle.kind, "permission_denied");
  }
  const wallet = await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call);
  t.same(wallet.wallet?.available, inr(5000n), "nothing was held or charged");
});

h.test("refunds and credit grants only from operators and admins", async (t) => {
  const user = await h.user();
  const expert = await h.user("expert");
  const admin = { bearerToken: await h.issuer.userToken({ role: "admin" }) };
  for (const caller of [user.call, expert.call, h.as.session]) {
    // Session may refund (a dispute support resolved), so it is only refused credit grants.
    if (caller !== h.as.session) {
      const refund = await failure(
        h.client.refund(
          {
            sessionId: newId(),
            amount: undefined,
            reason: RefundReason.REFUND_REASON_OTHER,
            note: "",
            requestId: newId(),
          },
          caller,
        ),
      );
      t.equal(refund.kind, "permission_denied");
    }
    const grant = await failure(
      h.client.grantCredit({ userId: user.userId, amount: inr(100n), note: "", requestId: newId() }, caller),
    );
    t.equal(grant.kind, "permission_denied");
  }
  const granted = await h.client.grantCredit(
    { userId: user.userId, amount: inr(100n), note: "welcome", requestId: newId() },
    admin,
  );
  t.same(granted.wallet?.balance, inr(100n));
});

h.test(
  "credit grants are admin-only (support and operators refused) and never to the granter's own wallet",
  async (t) => {
    const user = await h.user();
    for (const role of ["support", "operator", "moderator"] as const) {
      const userId = newId();
      const staff = { bearerToken: await h.issuer.userToken({ userId, role }) };
      for (const target of [user.userId, userId]) {
        const grant = await failure(
          h.client.grantCredit({ userId: target, amount: inr(100n), note: "", requestId: newId() }, staff),
        );
        t.equal(grant.kind, "permission_denied", `${role} may not grant credit`);
      }
    }
    const adminId = newId();
    const admin = { bearerToken: await h.issuer.userToken({ userId: adminId, role: "admin" }) };
    const own = await failure(
      h.client.grantCredit({ userId: adminId, amount: inr(100n), note: "", requestId: newId() }, admin),
    );
    t.equal(own.kind, "failed_precondition");
    t.equal(own.reason, "SELF_CREDIT_REFUSED");
    const wallet = await h.client.getWallet(
      { userId: adminId, currency: "INR", rateMinor: 0n },
      h.as.operator,
    );
    t.same(wallet.wallet?.balance, inr(0n), "nothing credited");
  },
);

h.test("idempotency keys are scoped to the caller", async (t) => {
  const user = await h.user();
  const requestId = newId();
  await h.fund(user.userId, 1000n);
  const asSession = await h.client.placeHold(
    { userId: user.userId, amount: inr(100n), requestId, reference: "session:a", ttlSeconds: 60n },
    h.as.session,
  );
  const topUp = await h.client.createTopUp({ amount: inr(500n), provider: "", requestId }, user.call);
  t.ok(asSession.hold && topUp.payment, "the same request_id from two callers is two requests");
});
