import { newId } from "@parley/kit/ids";
import { PaymentStatus } from "@parley/proto/parley/billing/v1/billing";
import { providerSettingsFor, razorpayStandIn, stripeStandIn } from "@parley/testing";
import t from "tap";
import { asSql, claimDue } from "../src/persistence/sql";
import { failure, genericPlanOf, inr, startHarness } from "./harness";

const stripe = await stripeStandIn(t);
const razorpay = await razorpayStandIn(t);
const RECONCILE_AFTER_S = 15 * 60;
const EXPIRY_S = 24 * 3600;
const h = await startHarness(t, {
  providers: providerSettingsFor(stripe, razorpay),
  reconcileAfterMs: RECONCILE_AFTER_S * 1000,
  paymentExpiryMs: EXPIRY_S * 1000,
});

const balance = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!.balance!
    .amountMinor;

const topUp = async (user: { call: { bearerToken: string } }, provider: string, amountMinor: bigint) =>
  (await h.client.createTopUp({ amount: inr(amountMinor), provider, requestId: newId() }, user.call))
    .payment!;

const reconcileAll = async () => {
  let total = 0;
  for (;;) {
    const round = await h.billing.reconcileDue(50, 4, 60_000);
    total += round.settled;
    if (round.claimed < 50) return total;
  }
};

const statusOf = async (paymentId: string) =>
  (await h.client.reconcilePayment({ paymentId }, h.as.operator)).payment!.status;

h.test(
  "a Razorpay payment whose webhook was dropped is credited by reconciliation exactly once",
  async (t) => {
    const user = await h.user();
    const payment = await topUp(user, "razorpay", 12_000n);
    const paid = razorpay.pay(payment.providerReference);
    await reconcileAll();
    t.equal(await balance(user), 0n, "not before the delay");
    h.clock.advanceSeconds(RECONCILE_AFTER_S + 1);
    await Promise.all([
      reconcileAll(),
      reconcileAll(),
      h.client.reconcilePayment({ paymentId: payment.paymentId }, h.as.operator),
    ]);
    t.equal(await balance(user), 12_000n, "credited once, though three reconciliations raced");
    await reconcileAll();
    const late = await h.client.receiveProviderWebhook(
      { provider: "razorpay", ...razorpay.event("payment.captured", { payment: { entity: paid } }) },
      h.as.edge,
    );
    t.notOk(late.credited, "the webhook arriving late credits nothing");
    const staff = await h.client.reconcilePayment({ paymentId: payment.paymentId }, h.as.operator);
    t.same(
      [staff.credited, staff.payment?.status, staff.payment?.providerPaymentId],
      [false, PaymentStatus.PAYMENT_STATUS_SUCCEEDED, paid.id],
    );
    t.same(
      staff.findings.map((f) => [f.kind, f.providerPaymentId, f.amount?.amountMinor]),
      [["reconciled_credited", paid.id, 12_000n]],
      "what reconciliation did is recorded",
    );
    t.equal(await balance(user), 12_000n);
  },
);

h.test("a Stripe PaymentIntent that succeeded without a webhook is credited", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, "stripe", 3_000n);
  stripe.succeed(payment.providerReference);
  h.clock.advanceSeconds(RECONCILE_AFTER_S + 1);
  await reconcileAll();
  t.equal(await balance(user), 3_000n);
  t.equal(await statusOf(payment.paymentId), PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
});

h.test("an order captured twice upstream credits once and flags the other capture for refund", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, "razorpay", 4_000n);
  const first = razorpay.pay(payment.providerReference);
  const second = razorpay.pay(payment.providerReference);
  h.clock.advanceSeconds(RECONCILE_AFTER_S + 1);
  await reconcileAll();
  const result = await h.client.reconcilePayment({ paymentId: payment.paymentId }, h.as.operator);
  t.equal(await balance(user), 4_000n, "never credited twice");
  t.same(result.findings.map((f) => [f.kind, f.providerPaymentId]).sort(), [
    ["duplicate_capture", second.id],
    ["reconciled_credited", first.id],
  ]);
});

h.test("attempts that all failed fail the payment; one never paid expires after the expiry", async (t) => {
  const user = await h.user();
  const failing = await topUp(user, "razorpay", 1_000n);
  razorpay.pay(failing.providerReference, "failed");
  const abandoned = await topUp(user, "razorpay", 2_000n);
  const development = await topUp(user, "development", 5_000n);
  h.clock.advanceSeconds(RECONCILE_AFTER_S + 1);
  await reconcileAll();
  t.equal(await statusOf(failing.paymentId), PaymentStatus.PAYMENT_STATUS_FAILED);
  t.equal(
    await statusOf(abandoned.paymentId),
    PaymentStatus.PAYMENT_STATUS_PENDING,
    "still payable before the expiry",
  );
  h.clock.advanceSeconds(EXPIRY_S);
  await reconcileAll();
  t.equal(await statusOf(abandoned.paymentId), PaymentStatus.PAYMENT_STATUS_EXPIRED);
  t.equal(await statusOf(development.paymentId), PaymentStatus.PAYMENT_STATUS_EXPIRED);
  const late = razorpay.pay(abandoned.providerReference);
  const result = await h.client.reconcilePayment({ paymentId: abandoned.paymentId }, h.as.operator);
  t.ok(result.credited, "money that arrives after all is still credited");
  t.equal(result.payment?.providerPaymentId, late.id);
  t.equal(await balance(user), 2_000n);
});

h.test("ReconcilePayment is for staff", async (t) => {
  const user = await h.user();
  const payment = await topUp(user, "development", 100n);
  const denied = await failure(h.client.reconcilePayment({ paymentId: payment.paymentId }, user.call));
  t.equal(denied.kind, "permission_denied");
  const missing = await failure(h.client.reconcilePayment({ paymentId: newId() }, h.as.operator));
  t.equal(missing.reason, "PAYMENT_NOT_FOUND");
});

h.test(
  "reconciliation's claims can probe each table's partial index under the pool's generic plans",
  async (t) => {
    const at = new Date();
    for (const [table, index] of [
      ["payments", "payments_pending_oldest"],
      ["payment_refunds", "payment_refunds_pending_since"],
      ["payouts", "payouts_processing_since"],
    ] as const) {
      const plan = await genericPlanOf(t, h.serviceUrl, (pool) =>
        claimDue(asSql(pool), table, { before: at, now: at, nextCheckAt: at, limit: 10 }),
      );
      t.match(plan, `"Index Name":"${index}"`, `${table}: through ${index}`);
    }
  },
);
