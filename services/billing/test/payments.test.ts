import { newId } from "@parley/kit/ids";
import { PaymentStatus, TransactionType } from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);

const topUp = async (user: { call: { bearerToken: string } }, amountMinor: bigint) =>
  (await h.client.createTopUp({ amount: inr(amountMinor), provider: "", requestId: newId() }, user.call))
    .payment!;

const event = (paymentId: string, status: PaymentStatus, amountMinor: bigint, providerEventId = newId()) => ({
  provider: "development",
  providerEventId,
  providerPaymentId: `pay_${paymentId.slice(-8)}`,
  paymentId,
  providerReference: "",
  status,
  amount: inr(amountMinor),
});

const balance = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!.balance;

h.test("CreateTopUp records a pending payment with a provider reference and credits nothing", async (t) => {
  const user = await h.user();
  const request = { amount: inr(50_000n), provider: "", requestId: newId() };
  const { payment } = await h.client.createTopUp(request, user.call);
  t.equal(payment?.status, PaymentStatus.PAYMENT_STATUS_PENDING);
  t.equal(payment?.provider, "development");
  t.match(payment?.providerReference, /^parley_/);
  t.same(await balance(user), inr(0n));
  t.same(
    (await h.client.createTopUp(request, user.call)).payment,
    payment,
    "a retried CreateTopUp is the same payment",
  );
  const reused = await failure(h.client.createTopUp({ ...request, amount: inr(1n) }, user.call));
  t.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
  const other = await h.user();
  const otherPayment = (await h.client.createTopUp({ ...request, amount: inr(7n) }, other.call)).payment;
  t.not(otherPayment?.paymentId, payment?.paymentId, "request ids are scoped to the caller");
});

h.test("the same ConfirmPayment 50× concurrently credits once", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, 50_000n);
  const confirmation = event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 50_000n);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => h.client.confirmPayment(confirmation, h.as.edge)),
  );
  t.equal(results.filter((r) => r.credited).length, 1, "exactly one call credited");
  t.ok(results.every((r) => r.payment?.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED));
  t.same(await balance(user), inr(50_000n));
  const { transactions } = await h.client.listTransactions(
    { userId: "", account: 0, currency: "", pageSize: 10, pageToken: "" },
    user.call,
  );
  t.equal(transactions.length, 1);
  t.equal(transactions[0]?.type, TransactionType.TRANSACTION_TYPE_TOP_UP);
  t.equal(transactions[0]?.reference, `payment:${payment.paymentId}`);
  const outbox =
    await h.sql`select id, payload from billing.notification_outbox where id like ${`${payment.paymentId}%`}`;
  t.same(
    outbox,
    [
      {
        id: `${payment.paymentId}:credited`,
        payload: {
          userId: user.userId,
          kind: "top_up_credited",
          data: { payment_id: payment.paymentId, amount_minor: "50000", currency: "INR" },
        },
      },
    ],
    "the credit's notification intent committed with it, once",
  );
});

h.test(
  "different events for one payment, in any order, credit once and never move a paid payment back",
  async (t) => {
    const user = await h.user();
    const payment = await topUp(user, 2000n);
    const outcomes = await Promise.all([
      h.client.confirmPayment(
        event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 2000n),
        h.as.edge,
      ),
      h.client.confirmPayment(
        event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 2000n),
        h.as.edge,
      ),
      h.client.confirmPayment(
        event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 2000n),
        h.as.edge,
      ),
    ]);
    t.equal(outcomes.filter((o) => o.credited).length, 1);
    const late = await h.client.confirmPayment(
      event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_FAILED, 2000n),
      h.as.edge,
    );
    t.equal(
      late.payment?.status,
      PaymentStatus.PAYMENT_STATUS_SUCCEEDED,
      "a late failure does not undo a payment",
    );
    const pending = await h.client.confirmPayment(
      event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_PENDING, 2000n),
      h.as.edge,
    );
    t.equal(pending.payment?.status, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
    t.same(await balance(user), inr(2000n));
  },
);

h.test(
  "failed and cancelled payments are recorded and credit nothing; a later success still credits once",
  async (t) => {
    const user = await h.user();
    const failed = await topUp(user, 1000n);
    const cancelled = await topUp(user, 3000n);
    const f = await h.client.confirmPayment(
      event(failed.paymentId, PaymentStatus.PAYMENT_STATUS_FAILED, 1000n),
      h.as.edge,
    );
    t.equal(f.payment?.status, PaymentStatus.PAYMENT_STATUS_FAILED);
    const c = await h.client.confirmPayment(
      {
        ...event("", PaymentStatus.PAYMENT_STATUS_CANCELLED, 3000n),
        providerReference: cancelled.providerReference,
      },
      h.as.edge,
    );
    t.equal(c.payment?.status, PaymentStatus.PAYMENT_STATUS_CANCELLED, "found by provider reference");
    t.same(await balance(user), inr(0n));
    const retried = await h.client.confirmPayment(
      event(failed.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 1000n),
      h.as.edge,
    );
    t.ok(retried.credited, "the provider's retry succeeded: money received is credited");
    t.same(await balance(user), inr(1000n));
  },
);

h.test("a success for another amount is refused; unknown payments are NOT_FOUND", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, 1000n);
  const mismatch = await failure(
    h.client.confirmPayment(
      event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 999n),
      h.as.edge,
    ),
  );
  t.equal(mismatch.reason, "PAYMENT_AMOUNT_MISMATCH");
  const unknown = await failure(
    h.client.confirmPayment(event(newId(), PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 1000n), h.as.edge),
  );
  t.equal(unknown.reason, "PAYMENT_NOT_FOUND");
  const otherProvider = await failure(
    h.client.confirmPayment(
      { ...event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 1000n), provider: "stripe" },
      h.as.edge,
    ),
  );
  t.equal(otherProvider.reason, "PAYMENT_NOT_FOUND", "another provider's event cannot pay this payment");
  t.same(await balance(user), inr(0n));
});

h.test("only the edge may confirm payments", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, 1000n);
  const confirmation = event(payment.paymentId, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, 1000n);
  t.equal((await failure(h.client.confirmPayment(confirmation, user.call))).kind, "permission_denied");
  t.equal((await failure(h.client.confirmPayment(confirmation, h.as.session))).kind, "permission_denied");
  t.equal((await failure(h.client.confirmPayment(confirmation))).kind, "unauthenticated");
  t.same(await balance(user), inr(0n));
});
