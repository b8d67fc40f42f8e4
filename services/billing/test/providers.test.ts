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
    const { payment } = await topUp(user, "stripe", 50_000n);
    await webhook(
      "stripe",
      stripe.event("payment_intent.succeeded", stripe.succeed(payment!.providerReference)),
    );
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
    const over = await failure(
      h.client.refundPayment(
        { paymentId: payment!.paymentId, amount: inr(30_001n), requestId: newId() },
        h.as.operator,
      ),
    );
    t.same([over.reason, over.metadata?.refundable_minor], ["REFUND_EXCEEDS_PAID", "30000"]);
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
    const rzp = (await topUp(other, "razorpay", 10_000n)).payment!;
    const paid = razorpay.pay(rzp.providerReference);
    await webhook("razorpay", razorpay.event("payment.captured", { payment: { entity: paid } }));
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
