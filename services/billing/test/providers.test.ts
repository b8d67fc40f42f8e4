import { newId } from "@parley/kit/ids";
import { PaymentRefundStatus, PaymentStatus } from "@parley/proto/parley/billing/v1/billing";
import {
  providerSettingsFor,
  RAZORPAY_KEY_ID,
  razorpayStandIn,
  STRIPE_KEY,
  stripeStandIn,
} from "@parley/testing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const stripe = await stripeStandIn(t);
const razorpay = await razorpayStandIn(t);
const h = await startHarness(t, { providers: providerSettingsFor(stripe, razorpay) });

const webhook = (provider: string, signed: { payload: Buffer; headers: Record<string, string> }) =>
  h.client.receiveProviderWebhook({ provider, ...signed }, h.as.edge);

const balance = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!.balance!
    .amountMinor;

const topUp = (
  user: { call: { bearerToken: string } },
  provider: string,
  amountMinor: bigint,
  requestId = newId(),
) => h.client.createTopUp({ amount: inr(amountMinor), provider, requestId }, user.call);

/** A Stripe top-up the payer completed, its success webhook delivered: the wallet is credited. */
const paidByStripe = async (user: { call: { bearerToken: string } }, amountMinor: bigint) => {
  const payment = (await topUp(user, "stripe", amountMinor)).payment!;
  await webhook(
    "stripe",
    stripe.event("payment_intent.succeeded", stripe.succeed(payment.providerReference)),
  );
  return payment;
};

/** A Razorpay top-up captured, its webhook delivered: the payment and Razorpay's capture. */
const paidByRazorpay = async (user: { call: { bearerToken: string } }, amountMinor: bigint) => {
  const payment = (await topUp(user, "razorpay", amountMinor)).payment!;
  const captured = razorpay.pay(payment.providerReference);
  await webhook("razorpay", razorpay.event("payment.captured", { payment: { entity: captured } }));
  return { payment, captured };
};

h.test("Stripe: a PaymentIntent from top-up to credited wallet, once", async (t) => {
  const user = await h.user();
  const requestId = newId();
  const { payment, checkout } = await topUp(user, "stripe", 50_000n, requestId);
  t.equal(payment?.status, PaymentStatus.PAYMENT_STATUS_PENDING);
  t.match(payment?.providerReference, /^pi_/, "the payment is the PaymentIntent");
  t.equal(
    checkout?.clientSecret,
    `${payment?.providerReference}_secret_standin`,
    "the app gets the client secret",
  );
  const created = stripe.received.find((r) => r.method === "POST")!;
  t.equal(created.headers.authorization, `Bearer ${STRIPE_KEY}`, "the secret key is sent as a bearer token");
  t.equal(created.headers["idempotency-key"], `topup:${payment?.paymentId}`, "idempotent by our payment id");
  t.same(
    {
      amount: created.body.amount,
      currency: created.body.currency,
      id: created.body["metadata[payment_id]"],
    },
    { amount: "50000", currency: "inr", id: payment?.paymentId },
  );
  const again = await topUp(user, "stripe", 50_000n, requestId);
  t.same(
    [again.payment, again.checkout],
    [payment, checkout],
    "a retried CreateTopUp is the same payment and checkout",
  );
  t.equal(stripe.intents.size, 1, "and makes no second PaymentIntent");

  const intent = stripe.succeed(payment!.providerReference);
  const signed = stripe.event("payment_intent.succeeded", intent);
  const first = await webhook("stripe", signed);
  t.ok(first.credited, "the signed succeeded event credits");
  t.equal(first.payment?.status, PaymentStatus.PAYMENT_STATUS_SUCCEEDED);
  t.equal(await balance(user), 50_000n);
  const replay = await webhook("stripe", signed);
  t.same([replay.duplicate, replay.credited], [true, false], "a replay of the event changes nothing");
  const another = await webhook("stripe", stripe.event("payment_intent.succeeded", intent));
  t.same(
    [another.duplicate, another.credited],
    [false, false],
    "another event for the same payment credits nothing",
  );
  t.equal(await balance(user), 50_000n);
});

h.test("Stripe: a wrong signature, a stale timestamp and an unsigned body are refused", async (t) => {
  const user = await h.user();
  const { payment } = await topUp(user, "stripe", 1000n);
  const intent = stripe.succeed(payment!.providerReference);
  const wrong = await failure(
    webhook("stripe", stripe.event("payment_intent.succeeded", intent, { secret: "whsec_other" })),
  );
  t.equal(wrong.reason, "SIGNATURE_INVALID");
  const stale = await failure(
    webhook(
      "stripe",
      stripe.event("payment_intent.succeeded", intent, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
    ),
  );
  t.equal(stale.reason, "SIGNATURE_STALE");
  const signed = stripe.event("payment_intent.succeeded", intent);
  const tampered = await failure(
    webhook("stripe", { ...signed, payload: Buffer.from(signed.payload.toString().replace("1000", "9000")) }),
  );
  t.equal(tampered.reason, "SIGNATURE_INVALID", "a body changed after signing");
  const unsigned = await failure(webhook("stripe", { payload: signed.payload, headers: {} }));
  t.equal(unsigned.reason, "SIGNATURE_INVALID");
  t.equal(await balance(user), 0n, "nothing credited");
  const forged = await failure(
    h.client.confirmPayment(
      {
        provider: "stripe",
        providerEventId: newId(),
        providerPaymentId: intent.id,
        paymentId: payment!.paymentId,
        providerReference: "",
        status: PaymentStatus.PAYMENT_STATUS_SUCCEEDED,
        amount: inr(1000n),
      },
      h.as.edge,
    ),
  );
  t.equal(forged.reason, "PROVIDER_WEBHOOK_REQUIRED", "Stripe payments move only on Stripe's own signature");
});

h.test("Razorpay: an order, the checkout signature and the webhook credit once between them", async (t) => {
  const user = await h.user();
  const { payment, checkout } = await topUp(user, "razorpay", 25_000n);
  t.match(payment?.providerReference, /^order_/);
  t.same([checkout?.keyId, checkout?.providerReference], [RAZORPAY_KEY_ID, payment?.providerReference]);
  const created = razorpay.received.find((r) => r.method === "POST")!;
  t.same(created.body, {
    amount: 25_000,
    currency: "INR",
    receipt: payment?.paymentId,
    notes: { payment_id: payment?.paymentId },
  });
  const paid = razorpay.pay(payment!.providerReference);
  const bad = await failure(
    h.client.verifyTopUp(
      { paymentId: payment!.paymentId, providerPaymentId: paid.id, signature: "00".repeat(32) },
      user.call,
    ),
  );
  t.equal(bad.reason, "SIGNATURE_INVALID", "a forged checkout signature");
  const other = await h.user();
  const signature = razorpay.checkoutSignature(payment!.providerReference, paid.id);
  const stranger = await failure(
    h.client.verifyTopUp(
      { paymentId: payment!.paymentId, providerPaymentId: paid.id, signature },
      other.call,
    ),
  );
  t.equal(stranger.reason, "PAYMENT_NOT_FOUND", "only the payer verifies their payment");
  const verified = await h.client.verifyTopUp(
    { paymentId: payment!.paymentId, providerPaymentId: paid.id, signature },
    user.call,
  );
  t.ok(verified.credited, "the checkout proof credits");
  t.equal(verified.payment?.providerPaymentId, paid.id);
  const fetched = razorpay.received.filter((r) => r.path === `/v1/payments/${paid.id}`);
  t.equal(fetched.length, 1, "after reading the payment back from Razorpay");
  const again = await h.client.verifyTopUp(
    { paymentId: payment!.paymentId, providerPaymentId: paid.id, signature },
    user.call,
  );
  t.notOk(again.credited, "a repeated proof credits nothing");
  const captured = await webhook(
    "razorpay",
    razorpay.event("payment.captured", { payment: { entity: paid } }),
  );
  t.same([captured.duplicate, captured.credited], [false, false], "the webhook after it credits nothing");
  const orderPaid = await webhook("razorpay", razorpay.event("order.paid", { payment: { entity: paid } }));
  t.notOk(orderPaid.credited, "nor does order.paid");
  t.equal(await balance(user), 25_000n);
});

h.test("Razorpay: an authorisation given back uncaptured (refunded) credits nothing", async (t) => {
  const user = await h.user();
  const { payment } = await topUp(user, "razorpay", 6_000n);
  const late = razorpay.pay(payment!.providerReference, "refunded");
  const verified = await h.client.verifyTopUp(
    {
      paymentId: payment!.paymentId,
      providerPaymentId: late.id,
      signature: razorpay.checkoutSignature(payment!.providerReference, late.id),
    },
    user.call,
  );
  t.notOk(verified.credited, "its checkout proof credits nothing");
  t.equal(await balance(user), 0n, "the payer got the money back from Razorpay, not in the wallet too");
});

h.test(
  "Razorpay: webhook first, bad signatures refused, replays no-op'd, a second capture flagged",
  async (t) => {
    const user = await h.user();
    const { payment } = await topUp(user, "razorpay", 7_500n);
    const failed = razorpay.pay(payment!.providerReference, "failed");
    const failedEvent = await webhook(
      "razorpay",
      razorpay.event("payment.failed", { payment: { entity: failed } }),
    );
    t.equal(
      failedEvent.payment?.status,
      PaymentStatus.PAYMENT_STATUS_FAILED,
      "a failed attempt marks it failed",
    );
    const paid = razorpay.pay(payment!.providerReference);
    const forged = await failure(
      webhook(
        "razorpay",
        razorpay.event("payment.captured", { payment: { entity: paid } }, { secret: "nope" }),
      ),
    );
    t.equal(forged.reason, "SIGNATURE_INVALID");
    const signed = razorpay.event("payment.captured", { payment: { entity: paid } });
    const tampered = await failure(
      webhook("razorpay", {
        ...signed,
        payload: Buffer.from(signed.payload.toString().replace("7500", "75000")),
      }),
    );
    t.equal(tampered.reason, "SIGNATURE_INVALID");
    const first = await webhook("razorpay", signed);
    t.ok(first.credited, "a later captured attempt on the same order credits");
    t.equal(first.payment?.providerPaymentId, paid.id);
    const replay = await webhook("razorpay", signed);
    t.same([replay.duplicate, replay.credited], [true, false]);
    const second = razorpay.pay(payment!.providerReference);
    const duplicate = await webhook(
      "razorpay",
      razorpay.event("payment.captured", { payment: { entity: second } }),
    );
    t.notOk(duplicate.credited, "a second capture of the order is never credited");
    const findings = await h.sql`
    select kind, provider_payment_id, amount from billing.payment_findings where payment_id = ${payment!.paymentId}`;
    t.same(
      findings.map((f) => [f.kind, f.provider_payment_id, f.amount]),
      [["duplicate_capture", second.id, 7_500n]],
      "it is flagged for refund",
    );
    const dispute = await webhook(
      "razorpay",
      razorpay.event("payment.dispute.created", {
        dispute: { entity: { id: "disp_1", payment_id: paid.id, amount: 7_500, currency: "INR" } },
      }),
    );
    t.equal(dispute.payment?.paymentId, payment?.paymentId, "a dispute is recorded against its payment");
    t.equal(await balance(user), 7_500n);
    const unknown = await failure(webhook("paypal", signed));
    t.equal(unknown.reason, "PROVIDER_NOT_SUPPORTED");
  },
);

h.test("an unconfigured provider is refused; a provider that does not answer is UNAVAILABLE", async (t) => {
  const user = await h.user();
  const refused = await failure(topUp(user, "paypal", 100n));
  t.equal(refused.reason, "PROVIDER_NOT_SUPPORTED");
  const down = await startHarness(t, {
    providers: {
      razorpay: { ...providerSettingsFor(stripe, razorpay).razorpay, baseUrl: "http://127.0.0.1:9" },
    },
  });
  const payer = await down.user();
  const requestId = newId();
  const unavailable = await failure(
    down.client.createTopUp({ amount: inr(100n), provider: "razorpay", requestId }, payer.call),
  );
  t.equal(unavailable.reason, "PROVIDER_UNAVAILABLE");
});

h.test(
  "refunds go back through the provider: out of the wallet at once, settled by the provider's word",
  async (t) => {
    const user = await h.user();
    const payment = await paidByStripe(user, 50_000n);
    const requestId = newId();
    const { refund } = await h.client.refundPayment(
      { paymentId: payment!.paymentId, amount: inr(20_000n), requestId },
      h.as.operator,
    );
    t.same(
      [refund?.status, refund?.amount?.amountMinor],
      [PaymentRefundStatus.PAYMENT_REFUND_STATUS_PENDING, 20_000n],
    );
    t.match(refund?.providerRefundId, /^re_/);
    const sent = stripe.received.find(
      (r) => r.path === "/v1/refunds" && r.body["metadata[refund_id]"] === refund?.refundId,
    )!;
    t.same(
      [sent.headers["idempotency-key"], sent.body.payment_intent, sent.body.amount],
      [`refund:${refund?.refundId}`, payment?.providerReference, "20000"],
    );
    t.equal(await balance(user), 30_000n, "the amount left the wallet at once");
    const again = await h.client.refundPayment(
      { paymentId: payment!.paymentId, amount: inr(20_000n), requestId },
      h.as.operator,
    );
    t.equal(again.refund?.refundId, refund?.refundId, "a retried request is the same refund");
    t.equal(again.refund?.providerRefundId, refund?.providerRefundId, "as it is now");
    t.equal(
      stripe.received.filter(
        (r) => r.path === "/v1/refunds" && r.body["metadata[refund_id]"] === refund?.refundId,
      ).length,
      1,
      "and it is not sent to Stripe again (whose idempotency keys last 24 hours)",
    );
    const over = await failure(
      h.client.refundPayment(
        { paymentId: payment!.paymentId, amount: inr(30_001n), requestId: newId() },
        h.as.operator,
      ),
    );
    t.same([over.reason, over.metadata?.refundable_minor], ["REFUND_EXCEEDS_PAID", "30000"]);
    const dollars = await failure(
      h.client.refundPayment(
        { paymentId: payment!.paymentId, amount: { amountMinor: 500n, currency: "USD" }, requestId: newId() },
        h.as.operator,
      ),
    );
    t.same(
      [dollars.kind, dollars.reason, dollars.fieldViolations[0]?.field],
      ["invalid_argument", "CURRENCY_MISMATCH", "amount.currency"],
      "an amount in another currency than the payment's is refused, not refunded in rupees",
    );
    const processed = stripe.event("refund.updated", {
      id: refund?.providerRefundId,
      object: "refund",
      status: "succeeded",
      amount: 20_000,
      metadata: { refund_id: refund?.refundId },
    });
    t.notOk((await webhook("stripe", processed)).duplicate);
    t.ok((await webhook("stripe", processed)).duplicate, "a replay changes nothing");
    const [row] = await h.sql`select status from billing.payment_refunds where id = ${refund!.refundId}`;
    t.equal(row?.status, "processed");
    t.equal(await balance(user), 30_000n);

    const other = await h.user();
    const { payment: rzp, captured: paid } = await paidByRazorpay(other, 10_000n);
    const failing = (
      await h.client.refundPayment({ paymentId: rzp.paymentId, requestId: newId() }, h.as.operator)
    ).refund!;
    t.equal(failing.amount?.amountMinor, 10_000n, "all of it when no amount is given");
    t.equal(await balance(other), 0n);
    await webhook(
      "razorpay",
      razorpay.event("refund.failed", {
        refund: {
          entity: {
            id: failing.providerRefundId,
            payment_id: paid.id,
            notes: { refund_id: failing.refundId },
          },
        },
      }),
    );
    t.equal(await balance(other), 10_000n, "a refund the provider failed puts the money back");
    const pending = (await topUp(other, "razorpay", 100n)).payment!;
    const notPaid = await failure(
      h.client.refundPayment({ paymentId: pending.paymentId, requestId: newId() }, h.as.operator),
    );
    t.equal(notPaid.reason, "PAYMENT_NOT_SUCCEEDED");
  },
);

/** Refund reconciliation as the worker runs it, once the refunds have waited past RECONCILE_AFTER_MS. */
const reconcileRefundsLater = async () => {
  h.clock.advanceSeconds(16 * 60);
  return h.billing.reconcileRefundsDue(200, 4, 60_000);
};
const refundRow = async (refundId: string) =>
  (
    await h.sql<{ status: string; provider_refund_id: string | null }[]>`
      select status, provider_refund_id from billing.payment_refunds where id = ${refundId}`
  )[0]!;
/** The refund of a payment a failed RefundPayment left behind (its answer never came). */
const unansweredRefundOf = async (paymentId: string) =>
  (
    await h.sql<{ id: string }[]>`
      select id from billing.payment_refunds where payment_id = ${paymentId} and provider_refund_id is null`
  )[0]!.id;

h.test(
  "reconciliation settles a top-up refund whose webhook never came, and finds one whose answer was lost",
  async (t) => {
    const user = await h.user();
    const payment = await paidByStripe(user, 50_000n);
    const refundOf = async (amount: bigint) =>
      (
        await h.client.refundPayment(
          { paymentId: payment!.paymentId, amount: inr(amount), requestId: newId() },
          h.as.operator,
        )
      ).refund!;
    const paid = await refundOf(10_000n);
    await reconcileRefundsLater();
    t.equal((await refundRow(paid.refundId)).status, "pending", "still pending at Stripe: nothing to do");
    stripe.refunds.get(paid.providerRefundId)!.status = "succeeded";
    const round = await reconcileRefundsLater();
    t.ok(round.settled >= 1, `settled (${JSON.stringify(round)})`);
    t.equal((await refundRow(paid.refundId)).status, "processed");
    t.equal(await balance(user), 40_000n, "the amount left the wallet once");
    const late = await webhook(
      "stripe",
      stripe.event("refund.updated", stripe.refunds.get(paid.providerRefundId)),
    );
    t.ok(late.duplicate, "the webhook arriving late changes nothing");
    t.equal(await balance(user), 40_000n);
    // Days later the card turns out closed: Stripe fails the succeeded refund and keeps the money.
    const reversed = { ...stripe.refunds.get(paid.providerRefundId)!, status: "failed" };
    t.notOk((await webhook("stripe", stripe.event("refund.failed", reversed))).duplicate);
    t.equal((await refundRow(paid.refundId)).status, "failed");
    t.equal(await balance(user), 50_000n, "the payer never got it back from Stripe: the wallet has it again");
    const again = await webhook(
      "stripe",
      stripe.event("refund.updated", { ...reversed, status: "succeeded" }),
    );
    t.ok(again.duplicate, "a failed refund is final: a stale success changes nothing");
    t.equal(await balance(user), 50_000n);
    await refundOf(10_000n);

    const failing = await refundOf(5_000n);
    t.equal(await balance(user), 35_000n);
    stripe.refunds.get(failing.providerRefundId)!.status = "failed";
    await reconcileRefundsLater();
    t.equal((await refundRow(failing.refundId)).status, "failed");
    t.equal(await balance(user), 40_000n, "a refund Stripe failed puts the money back");

    // Made at Stripe, but the answer lost: pending here with no id of Stripe's.
    stripe.state.refund = "lost";
    const lost = await failure(refundOf(7_000n));
    stripe.state.refund = "pending";
    t.equal(lost.reason, "PROVIDER_UNAVAILABLE");
    const lostId = await unansweredRefundOf(payment!.paymentId);
    const atStripe = [...stripe.refunds.values()].filter((r) => r.metadata.refund_id === lostId);
    t.equal(atStripe.length, 1, "Stripe made it");
    await reconcileRefundsLater();
    t.same(
      await refundRow(lostId),
      { status: "pending", provider_refund_id: atStripe[0]!.id },
      "found by our id in its metadata and recorded, still pending",
    );
    atStripe[0]!.status = "succeeded";
    await reconcileRefundsLater();
    t.equal((await refundRow(lostId)).status, "processed");
    t.equal(
      stripe.received.filter((r) => r.method === "POST" && r.body["metadata[refund_id]"] === lostId).length,
      1,
      "never sent twice",
    );
    t.equal(await balance(user), 33_000n);
  },
);

h.test(
  "reconciliation sends again a top-up refund the provider never got, under the same idempotency key",
  async (t) => {
    const user = await h.user();
    const { payment: order, captured } = await paidByRazorpay(user, 20_000n);
    const refundOf = (requestId: string) =>
      h.client.refundPayment({ paymentId: order.paymentId, amount: inr(4_000n), requestId }, h.as.operator);
    const sendsOf = (refundId: string) =>
      razorpay.received
        .filter((r) => r.method === "POST" && (r.body.notes as { refund_id?: string }).refund_id === refundId)
        .map((r) => r.headers["x-refund-idempotency"]);

    // Never reached Razorpay: sent again by reconciliation.
    razorpay.state.refund = "down";
    t.equal((await failure(refundOf(newId()))).reason, "PROVIDER_UNAVAILABLE");
    razorpay.state.refund = "pending";
    const unsent = await unansweredRefundOf(order.paymentId);
    t.equal(await balance(user), 16_000n, "out of the wallet while the provider is asked");
    const round = await reconcileRefundsLater();
    t.ok(round.sent >= 1, `sent (${JSON.stringify(round)})`);
    const atRazorpay = [...razorpay.refunds.values()].filter(
      (r) => (r.notes as { refund_id?: string }).refund_id === unsent,
    );
    t.equal(atRazorpay.length, 1, "Razorpay has it now");
    t.same(await refundRow(unsent), { status: "pending", provider_refund_id: atRazorpay[0]!.id });
    t.same(sendsOf(unsent), [`refund_${unsent}`, `refund_${unsent}`], "the same idempotency key both times");
    await reconcileRefundsLater();
    t.equal(sendsOf(unsent).length, 2, "a later round asks about it, it does not send it again");
    atRazorpay[0]!.status = "processed";
    await reconcileRefundsLater();
    t.equal((await refundRow(unsent)).status, "processed");

    // The answer lost, then the same request again: Razorpay's idempotency makes it one refund.
    razorpay.state.refund = "lost";
    const requestId = newId();
    t.equal((await failure(refundOf(requestId))).reason, "PROVIDER_UNAVAILABLE");
    razorpay.state.refund = "pending";
    const retried = (await refundOf(requestId)).refund!;
    t.equal(
      [...razorpay.refunds.values()].filter(
        (r) => (r.notes as { refund_id?: string }).refund_id === retried.refundId,
      ).length,
      1,
      "a retried RefundPayment is the refund Razorpay already made",
    );
    t.match(retried.providerRefundId, /^rfnd_/);

    // The answer lost behind 100 refunds made at the dashboard: found on the list's second page.
    for (let i = 0; i < 100; i++)
      razorpay.refunds.set(`rfnd_other_${i}`, {
        id: `rfnd_other_${i}`,
        entity: "refund",
        payment_id: captured.id,
        amount: 1,
        status: "processed",
        notes: [],
      });
    razorpay.state.refund = "lost";
    t.equal((await failure(refundOf(newId()))).reason, "PROVIDER_UNAVAILABLE");
    razorpay.state.refund = "pending";
    const behind = await unansweredRefundOf(order.paymentId);
    await reconcileRefundsLater();
    const made = [...razorpay.refunds.values()].filter(
      (r) => (r.notes as { refund_id?: string }).refund_id === behind,
    );
    t.equal(made.length, 1);
    t.same(
      await refundRow(behind),
      { status: "pending", provider_refund_id: made[0]!.id },
      "found on the second page of the payment's refunds",
    );
    t.equal(sendsOf(behind).length, 1, "never sent twice");

    // Unknown by the id Razorpay gave: for staff, never sent again.
    razorpay.refunds.delete(retried.providerRefundId);
    const unknown = await reconcileRefundsLater();
    t.ok(unknown.unknown >= 1, `counted as unknown (${JSON.stringify(unknown)})`);
    t.equal(sendsOf(retried.refundId).length, 2, "not sent again");
    t.equal((await refundRow(retried.refundId)).status, "pending");
    await reconcileRefundsLater();
    const { findings } = await h.client.listPaymentFindings(
      { kind: "refund_unknown", pageSize: 200, pageToken: "" },
      h.as.operator,
    );
    t.same(
      findings
        .filter((f) => f.paymentId === order.paymentId)
        .map((f) => [f.paymentId, f.providerRefundId, f.amount?.amountMinor]),
      [[order.paymentId, retried.providerRefundId, 4_000n]],
      "listed for staff, once however many rounds ask",
    );
    t.equal(await balance(user), 8_000n);
  },
);

h.test(
  "a refund made at the provider's dashboard is recorded for staff, once per refund, and moves no money",
  async (t) => {
    const user = await h.user();
    const payment = await paidByStripe(user, 9_000n);
    const refund = {
      id: "re_dashboard_1",
      object: "refund",
      amount: 4_000,
      currency: "inr",
      payment_intent: payment!.providerReference,
      status: "succeeded",
      metadata: {},
    };
    const created = await webhook("stripe", stripe.event("refund.created", { ...refund, status: "pending" }));
    t.notOk(created.duplicate, "a refund still pending at Stripe is acknowledged");
    const signed = stripe.event("refund.updated", refund);
    const first = await webhook("stripe", signed);
    t.same(
      [first.duplicate, first.payment?.paymentId],
      [false, payment!.paymentId],
      "recorded on its payment",
    );
    t.ok((await webhook("stripe", signed)).duplicate, "a replay records nothing more");
    t.ok(
      (await webhook("stripe", stripe.event("refund.updated", refund))).duplicate,
      "nor does another event about the same refund",
    );
    const second = await webhook(
      "stripe",
      stripe.event("refund.updated", { ...refund, id: "re_dashboard_2", amount: 1_000 }),
    );
    t.notOk(second.duplicate, "a second refund of the same payment is a finding of its own");
    const refundFindings = async (paymentId: string) =>
      (await h.client.reconcilePayment({ paymentId }, h.as.operator)).findings
        .filter((finding) => finding.kind === "provider_refund")
        .map((finding) => [finding.providerRefundId, finding.providerPaymentId, finding.amount?.amountMinor]);
    t.same(await refundFindings(payment!.paymentId), [
      ["re_dashboard_1", payment!.providerReference, 4_000n],
      ["re_dashboard_2", payment!.providerReference, 1_000n],
    ]);
    t.equal(await balance(user), 9_000n, "no money moved: staff settle it");

    const { payment: order, captured } = await paidByRazorpay(user, 3_000n);
    const dashboardRefund = (id: string, paymentId: string) =>
      webhook(
        "razorpay",
        razorpay.event("refund.processed", {
          refund: {
            entity: {
              id,
              entity: "refund",
              payment_id: paymentId,
              amount: 3_000,
              currency: "INR",
              status: "processed",
              notes: [],
            },
          },
        }),
      );
    const processed = await dashboardRefund("rfnd_dashboard", captured.id);
    t.same([processed.duplicate, processed.payment?.paymentId], [false, order.paymentId]);
    // A second capture of the order, flagged for refund and refunded at the dashboard as asked.
    const again = razorpay.pay(order.providerReference);
    await webhook("razorpay", razorpay.event("payment.captured", { payment: { entity: again } }));
    const ofSecond = await dashboardRefund("rfnd_duplicate", again.id);
    t.same(
      [ofSecond.duplicate, ofSecond.payment?.paymentId],
      [false, order.paymentId],
      "a second capture's refund is found through its duplicate_capture finding",
    );
    t.same(await refundFindings(order.paymentId), [
      ["rfnd_dashboard", captured.id, 3_000n],
      ["rfnd_duplicate", again.id, 3_000n],
    ]);
    t.equal(await balance(user), 12_000n, "the second capture was never credited; no money moved");

    // Staff find them without knowing the payments: newest first, one kind, page by page.
    const list = (kind: string, pageSize: number, pageToken = "") =>
      h.client.listPaymentFindings({ kind, pageSize, pageToken }, h.as.operator);
    const first3 = await list("provider_refund", 3);
    t.same(
      first3.findings.map((f) => [f.providerRefundId, f.paymentId]),
      [
        ["rfnd_duplicate", order.paymentId],
        ["rfnd_dashboard", order.paymentId],
        ["re_dashboard_2", payment!.paymentId],
      ],
    );
    const rest = await list("provider_refund", 3, first3.nextPageToken);
    t.same(
      rest.findings.map((f) => f.providerRefundId),
      ["re_dashboard_1"],
    );
    t.equal(rest.nextPageToken, "", "the last page");
    const every = await list("", 200);
    t.same(
      every.findings.filter((f) => f.paymentId === order.paymentId).map((f) => f.kind),
      ["provider_refund", "duplicate_capture", "provider_refund"],
      "no kind: every kind",
    );
    const unknown = await failure(list("chargeback", 10));
    t.same([unknown.reason, unknown.fieldViolations.map((v) => v.field)], ["VALIDATION_FAILED", ["kind"]]);
    t.equal(
      (await failure(list("provider_refund", 10, first3.nextPageToken.slice(0, -2)))).reason,
      "INVALID_PAGE_TOKEN",
    );
    const payer = await failure(
      h.client.listPaymentFindings({ kind: "", pageSize: 10, pageToken: "" }, user.call),
    );
    t.equal(payer.reason, "PERMISSION_DENIED", "staff only");
  },
);

h.test(
  "a refund the provider refuses outright fails at once and puts the amount back in the wallet",
  async (t) => {
    for (const [provider, paid] of [
      ["stripe", async (user: Awaited<ReturnType<typeof h.user>>) => (await paidByStripe(user, 5_000n))!],
      [
        "razorpay",
        async (user: Awaited<ReturnType<typeof h.user>>) => (await paidByRazorpay(user, 5_000n)).payment,
      ],
    ] as const) {
      const user = await h.user();
      const payment = await paid(user);
      const standIn = provider === "stripe" ? stripe : razorpay;
      standIn.state.refund = "refused";
      const { refund } = await h.client.refundPayment(
        { paymentId: payment.paymentId, amount: inr(2_000n), requestId: newId() },
        h.as.operator,
      );
      standIn.state.refund = "pending";
      t.equal(
        refund?.status,
        PaymentRefundStatus.PAYMENT_REFUND_STATUS_FAILED,
        `${provider}: failed, not pending for ever`,
      );
      t.equal(await balance(user), 5_000n, `${provider}: the amount is back in the wallet`);
      t.equal((await reconcileRefundsLater()).sent, 0, `${provider}: nothing left to send again`);
    }
  },
);

h.test(
  "a refund sent again and refused, that the provider has from the first send, is not failed",
  async (t) => {
    const user = await h.user();
    const payment = (await paidByStripe(user, 5_000n))!;
    const requestId = newId();
    stripe.state.refund = "lost";
    const lost = await failure(
      h.client.refundPayment({ paymentId: payment.paymentId, amount: inr(2_000n), requestId }, h.as.operator),
    );
    t.equal(lost.reason, "PROVIDER_UNAVAILABLE");
    // Past Stripe's 24-hour idempotency window the same send is a new one, refused.
    stripe.state.refund = "refused";
    const { refund } = await h.client.refundPayment(
      { paymentId: payment.paymentId, amount: inr(2_000n), requestId },
      h.as.operator,
    );
    stripe.state.refund = "pending";
    t.equal(
      refund?.status,
      PaymentRefundStatus.PAYMENT_REFUND_STATUS_PENDING,
      "still pending, as Stripe has it",
    );
    t.match(refund?.providerRefundId, /^re_/, "found by our id and recorded");
    t.equal(await balance(user), 3_000n, "the amount stays out of the wallet: the payer gets it by card");
  },
);
