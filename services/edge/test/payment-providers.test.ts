import { randomBytes, randomUUID } from "node:crypto";
import {
  providerSettingsFor,
  RAZORPAY_KEY_ID,
  razorpayStandIn,
  razorpayXSettingsFor,
  razorpayXStandIn,
  stripeStandIn,
} from "@parley/testing";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";

const stripe = await stripeStandIn(t);
const razorpay = await razorpayStandIn(t);
const rail = await razorpayXStandIn(t);
const settings = providerSettingsFor(stripe, razorpay);
const railSettings = razorpayXSettingsFor(rail);
const api = await startPlatform(t, {
  billing: {
    STRIPE_SECRET_KEY: settings.stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: settings.stripe.webhookSecret,
    STRIPE_API_BASE: stripe.baseUrl,
    RAZORPAY_KEY_ID: settings.razorpay.keyId,
    RAZORPAY_KEY_SECRET: settings.razorpay.keySecret,
    RAZORPAY_WEBHOOK_SECRET: settings.razorpay.webhookSecret,
    RAZORPAY_API_BASE: razorpay.baseUrl,
    RAZORPAYX_KEY_ID: railSettings.keyId,
    RAZORPAYX_KEY_SECRET: railSettings.keySecret,
    RAZORPAYX_WEBHOOK_SECRET: railSettings.webhookSecret,
    RAZORPAYX_ACCOUNT_NUMBER: railSettings.accountNumber,
    RAZORPAYX_API_BASE: rail.baseUrl,
    PAYOUT_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  },
});

/** A provider's webhook as the provider sends it: the exact bytes, its own signature headers. */
const deliver = (provider: string, signed: { payload: Buffer; headers: Record<string, string> }) =>
  api.call("POST", `/v1/webhooks/${provider}`, {
    body: signed.payload.toString("utf8"),
    headers: signed.headers,
  });

const balanceOf = async (token: string) =>
  (await api.call("GET", "/v1/me/wallet", { token })).body.wallet.balance.amount_minor;

t.test("Stripe through the edge: PaymentIntent, signed webhook credits once, bad ones refused", async (t) => {
  const { accessToken: token } = await api.register();
  const created = await api.call("POST", "/v1/me/topups", {
    token,
    body: {
      amount: { amount_minor: "40000", currency: "INR" },
      provider: "stripe",
      request_id: randomUUID(),
    },
  });
  t.equal(created.status, 200, JSON.stringify(created.body));
  const { payment, checkout } = created.body;
  t.match(checkout.client_secret, /^pi_\d+_secret_/);
  const intent = stripe.succeed(payment.provider_reference);
  const stale = await deliver(
    "stripe",
    stripe.event("payment_intent.succeeded", intent, { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
  );
  t.same([stale.status, stale.body.error?.reason], [400, "SIGNATURE_STALE"]);
  const forged = await deliver(
    "stripe",
    stripe.event("payment_intent.succeeded", intent, { secret: "whsec_wrong" }),
  );
  t.same([forged.status, forged.body.error?.reason], [400, "SIGNATURE_INVALID"]);
  const signed = stripe.event("payment_intent.succeeded", intent);
  const first = await deliver("stripe", signed);
  t.same([first.status, first.body.credited], [200, true], JSON.stringify(first.body));
  const replay = await deliver("stripe", signed);
  t.same([replay.status, replay.body.duplicate, replay.body.credited ?? false], [200, true, false]);
  t.equal(await balanceOf(token), "40000");
});

t.test("Razorpay through the edge: checkout proof and webhook credit once between them", async (t) => {
  const { accessToken: token } = await api.register();
  const created = await api.call("POST", "/v1/me/topups", {
    token,
    body: {
      amount: { amount_minor: "25000", currency: "INR" },
      provider: "razorpay",
      request_id: randomUUID(),
    },
  });
  const { payment, checkout } = created.body;
  t.same([checkout.key_id, checkout.provider_reference], [RAZORPAY_KEY_ID, payment.provider_reference]);
  const paid = razorpay.pay(payment.provider_reference);
  const webhookFirst = await deliver(
    "razorpay",
    razorpay.event("payment.captured", { payment: { entity: paid } }),
  );
  t.same([webhookFirst.status, webhookFirst.body.credited], [200, true]);
  const verified = await api.call("POST", `/v1/me/topups/${payment.payment_id}:verify`, {
    token,
    body: {
      provider_payment_id: paid.id,
      signature: razorpay.checkoutSignature(payment.provider_reference, paid.id),
    },
  });
  t.same([verified.status, verified.body.credited ?? false], [200, false], JSON.stringify(verified.body));
  t.equal(verified.body.payment.status, "PAYMENT_STATUS_SUCCEEDED");
  const unsigned = await api.call("POST", "/v1/webhooks/razorpay", { body: { event: "payment.captured" } });
  t.equal(unsigned.status, 400);
  t.equal(await balanceOf(token), "25000");
  const admin = await api.adminToken();
  const reconciled = await api.call("POST", `/v1/payments/${payment.payment_id}:reconcile`, {
    token: admin,
    body: {},
  });
  t.same([reconciled.status, reconciled.body.credited ?? false], [200, false]);
});

t.test("payouts through the edge: the account shown masked, no withdrawal before KYC", async (t) => {
  const admin = await api.adminToken();
  const account = await api.register();
  await api.call("POST", `/v1/users/${account.userId}/role`, {
    token: admin,
    body: { role: "ROLE_EXPERT", reason: "an expert" },
  });
  const token = await api.login(account.email, PASSWORD);
  const set = await api.call("PUT", "/v1/me/payout-account", {
    token,
    body: { method: "PAYOUT_METHOD_UPI", holder_name: "Asha Rao", upi_id: "asha@okaxis" },
  });
  t.same([set.status, set.body.account?.masked], [200, "as•••@okaxis"], JSON.stringify(set.body));
  const refused = await api.call("POST", "/v1/me/payouts", {
    token,
    body: { amount: { amount_minor: "10000", currency: "INR" }, request_id: randomUUID() },
  });
  t.same([refused.status, refused.body.error?.reason], [400, "KYC_NOT_VERIFIED"]);
  const verified = await api.call("POST", `/v1/payout-accounts/${account.userId}:setKyc`, {
    token: admin,
    body: { status: "KYC_STATUS_VERIFIED" },
  });
  t.equal(verified.body.account?.kyc_status, "KYC_STATUS_VERIFIED");
  const above = await api.call("POST", "/v1/me/payouts", {
    token,
    body: { amount: { amount_minor: "10000", currency: "INR" }, request_id: randomUUID() },
  });
  t.equal(above.body.error?.reason, "AMOUNT_EXCEEDS_WITHDRAWABLE");
  const listed = await api.call("GET", "/v1/me/payouts", { token });
  t.same([listed.status, listed.body.payouts ?? []], [200, []]);
});
