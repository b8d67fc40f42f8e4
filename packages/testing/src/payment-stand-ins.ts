import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Test } from "tap";

/**
 * Local stand-ins for the payment providers billing talks to (Stripe, Razorpay, RazorpayX): HTTP
 * servers that speak the part of each API billing uses, check the credentials, keep what they
 * received for tests to inspect, and sign webhooks in each provider's own format.
 */

/** One request a stand-in received, for tests to check what the SDK sent. */
export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

type Route = (
  request: Received,
) => { status?: number; body: unknown; headers?: Record<string, string> } | undefined;

/** An HTTP server on a free port answering with `route`; unknown requests are 404. */
async function serve(t: Test, route: Route): Promise<{ baseUrl: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const type = request.headers["content-type"] ?? "";
      const body = !raw
        ? {}
        : type.includes("json")
          ? (JSON.parse(raw) as Record<string, unknown>)
          : Object.fromEntries(new URLSearchParams(raw));
      const entry = { method: request.method!, path: request.url!, headers: request.headers, body };
      received.push(entry);
      const answer = route(entry) ?? { status: 404, body: { error: { message: "not found" } } };
      response.writeHead(answer.status ?? 200, { ...answer.headers, "content-type": "application/json" });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/**
 * What a stand-in does with the next refund sent: makes it and answers "pending" (the default),
 * or fails the call, "down" before the refund is made, "lost" after (made, the caller gets a 5xx),
 * "refused" as the provider refuses one it will never make (a 400: already refunded, say).
 */
export type RefundAnswer = "pending" | "down" | "lost" | "refused";

export const STRIPE_KEY = "sk_test_parley_stand_in";
export const STRIPE_WEBHOOK_SECRET = "whsec_parley_stand_in";

interface Intent {
  id: string;
  object: "payment_intent";
  amount: number;
  amount_received: number;
  currency: string;
  status: string;
  client_secret: string;
  metadata: Record<string, string>;
  last_payment_error: null;
}

interface StripeRefund {
  id: string;
  object: "refund";
  amount: number;
  currency: string;
  payment_intent: string;
  status: string;
  metadata: Record<string, string>;
}

/**
 * Stripe's PaymentIntents and Refunds APIs as far as billing uses them: create (form-encoded,
 * Bearer key, Idempotency-Key honoured), retrieve, and list a PaymentIntent's refunds;
 * `succeed` is the payer completing a PaymentIntent, `state.refund` what a refund send does.
 * A failed call says `Stripe-Should-Retry: false`, so the SDK passes it on at once.
 */
export async function stripeStandIn(t: Test) {
  const intents = new Map<string, Intent>();
  const byKey = new Map<string, Intent>();
  const refunds = new Map<string, StripeRefund>();
  const refundsByKey = new Map<string, StripeRefund>();
  const state = { refund: "pending" as RefundAnswer };
  const noRetry = { "stripe-should-retry": "false" };
  let next = 0;
  const { baseUrl, received } = await serve(t, (request) => {
    if (request.headers.authorization !== `Bearer ${STRIPE_KEY}`)
      return { status: 401, body: { error: { type: "invalid_request_error", message: "bad key" } } };
    if (request.method === "POST" && request.path === "/v1/payment_intents") {
      const key = String(request.headers["idempotency-key"] ?? "");
      const known = byKey.get(key);
      if (known) return { body: known };
      const id = `pi_${++next}`;
      const intent: Intent = {
        id,
        object: "payment_intent",
        amount: Number(request.body.amount),
        amount_received: 0,
        currency: String(request.body.currency),
        status: "requires_payment_method",
        client_secret: `${id}_secret_standin`,
        metadata: { payment_id: String(request.body["metadata[payment_id]"]) },
        last_payment_error: null,
      };
      intents.set(id, intent);
      if (key) byKey.set(key, intent);
      return { body: intent };
    }
    const url = new URL(request.path, "http://stand-in");
    if (request.method === "POST" && url.pathname === "/v1/refunds") {
      if (state.refund === "down")
        return { status: 503, headers: noRetry, body: { error: { type: "api_error", message: "down" } } };
      if (state.refund === "refused")
        return {
          status: 400,
          body: { error: { type: "invalid_request_error", message: "Charge has already been refunded." } },
        };
      const key = String(request.headers["idempotency-key"] ?? "");
      const known = refundsByKey.get(key);
      if (known) return { body: known };
      const refund: StripeRefund = {
        id: `re_${++next}`,
        object: "refund",
        amount: Number(request.body.amount),
        currency: "inr",
        payment_intent: String(request.body.payment_intent),
        status: "pending",
        metadata: { refund_id: String(request.body["metadata[refund_id]"]) },
      };
      refunds.set(refund.id, refund);
      if (key) refundsByKey.set(key, refund);
      if (state.refund === "lost")
        return { status: 504, headers: noRetry, body: { error: { type: "api_error", message: "timeout" } } };
      return { body: refund };
    }
    if (request.method === "GET" && url.pathname === "/v1/refunds") {
      const intent = url.searchParams.get("payment_intent");
      const data = [...refunds.values()].filter((r) => !intent || r.payment_intent === intent);
      return { body: { object: "list", url: "/v1/refunds", has_more: false, data } };
    }
    const refund = /^\/v1\/refunds\/([^/?]+)$/.exec(url.pathname);
    if (request.method === "GET" && refund) {
      const found = refunds.get(refund[1]!);
      return found
        ? { body: found }
        : {
            status: 404,
            body: {
              error: { type: "invalid_request_error", code: "resource_missing", message: "No such refund" },
            },
          };
    }
    const match = /^\/v1\/payment_intents\/([^/?]+)$/.exec(url.pathname);
    if (request.method === "GET" && match && intents.has(match[1]!)) return { body: intents.get(match[1]!) };
    return undefined;
  });
  return {
    baseUrl,
    received,
    intents,
    refunds,
    state,
    succeed(id: string): Intent {
      const intent = intents.get(id)!;
      Object.assign(intent, { status: "succeeded", amount_received: intent.amount });
      return intent;
    },
    /** A webhook body and its Stripe-Signature, signed at `timestamp` (seconds; now by default). */
    event(type: string, object: unknown, options: { id?: string; timestamp?: number; secret?: string } = {}) {
      const payload = JSON.stringify({
        id: options.id ?? `evt_${++next}`,
        object: "event",
        type,
        api_version: "2024-06-20",
        created: Math.floor(Date.now() / 1000),
        data: { object },
      });
      const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
      const v1 = createHmac("sha256", options.secret ?? STRIPE_WEBHOOK_SECRET)
        .update(`${timestamp}.${payload}`)
        .digest("hex");
      return { payload: Buffer.from(payload), headers: { "stripe-signature": `t=${timestamp},v1=${v1}` } };
    },
  };
}

export const RAZORPAY_KEY_ID = "rzp_test_standin";
export const RAZORPAY_KEY_SECRET = "rzp_secret_standin";
export const RAZORPAY_WEBHOOK_SECRET = "rzp_webhook_standin";

interface RazorpayPayment {
  id: string;
  entity: "payment";
  order_id: string;
  amount: number;
  currency: string;
  status: string;
  /** Whether the money was captured: a payment `refunded` without it was authorised and given back. */
  captured: boolean;
}

interface RazorpayRefund {
  id: string;
  entity: "refund";
  payment_id: string;
  amount: number;
  status: string;
  notes: unknown;
}

/**
 * Razorpay's orders, payments and refunds API as far as billing uses it (JSON, Basic auth with
 * the key id and secret; X-Refund-Idempotency honoured: the same key is the same refund; a
 * payment's refunds listed a page at a time, `count` (10 by default) from `skip`); an id
 * it does not know is a 400 "The id provided does not exist", as Razorpay answers. `pay` is a
 * payment attempt on an order (captured unless told otherwise; `refunded` is one never captured,
 * an authorisation Razorpay gave back), `state.refund` what a refund
 * send does.
 */
export async function razorpayStandIn(t: Test) {
  const orders = new Map<string, { id: string; amount: number; currency: string; receipt: string }>();
  const payments = new Map<string, RazorpayPayment>();
  const refunds = new Map<string, RazorpayRefund>();
  const refundsByKey = new Map<string, RazorpayRefund>();
  const state = { refund: "pending" as RefundAnswer };
  const unknownId = {
    status: 400,
    body: { error: { code: "BAD_REQUEST_ERROR", description: "The id provided does not exist" } },
  };
  let next = 0;
  const basic = `Basic ${Buffer.from(`${RAZORPAY_KEY_ID}:${RAZORPAY_KEY_SECRET}`).toString("base64")}`;
  const { baseUrl, received } = await serve(t, (request) => {
    if (request.headers.authorization !== basic)
      return { status: 401, body: { error: { code: "BAD_REQUEST_ERROR", description: "auth" } } };
    if (request.method === "POST" && request.path === "/v1/orders") {
      const id = `order_${++next}`;
      const order = {
        id,
        entity: "order",
        amount: Number(request.body.amount),
        currency: String(request.body.currency),
        receipt: String(request.body.receipt),
        status: "created",
      };
      orders.set(id, order);
      return { body: order };
    }
    const refund = /^\/v1\/payments\/([^/?]+)\/refund$/.exec(request.path);
    if (request.method === "POST" && refund && payments.has(refund[1]!)) {
      if (state.refund === "down") return { status: 503, body: { error: { description: "down" } } };
      if (state.refund === "refused")
        return {
          status: 400,
          body: {
            error: { code: "BAD_REQUEST_ERROR", description: "The payment has been fully refunded already" },
          },
        };
      const key = String(request.headers["x-refund-idempotency"] ?? "");
      const known = refundsByKey.get(key);
      if (known) return { body: known };
      const created: RazorpayRefund = {
        id: `rfnd_${++next}`,
        entity: "refund",
        payment_id: refund[1]!,
        amount: Number(request.body.amount),
        status: "pending",
        notes: request.body.notes,
      };
      refunds.set(created.id, created);
      if (key) refundsByKey.set(key, created);
      if (state.refund === "lost")
        return { status: 504, body: { error: { description: "gateway timeout" } } };
      return { body: created };
    }
    const refundsOf = /^\/v1\/payments\/([^/?]+)\/refunds(?:\/([^/?]+))?(?:\?.*)?$/.exec(request.path);
    if (request.method === "GET" && refundsOf) {
      if (!payments.has(refundsOf[1]!)) return unknownId;
      const items = [...refunds.values()].filter((r) => r.payment_id === refundsOf[1]);
      if (!refundsOf[2]) {
        const query = new URL(request.path, "http://stand-in").searchParams;
        const skip = Number(query.get("skip") ?? 0);
        const page = items.slice(skip, skip + Number(query.get("count") ?? 10));
        return { body: { entity: "collection", count: page.length, items: page } };
      }
      const found = items.find((r) => r.id === refundsOf[2]);
      return found ? { body: found } : unknownId;
    }
    const payment = /^\/v1\/payments\/([^/?]+)$/.exec(request.path);
    if (request.method === "GET" && payment && payments.has(payment[1]!))
      return { body: payments.get(payment[1]!) };
    const ofOrder = /^\/v1\/orders\/([^/?]+)\/payments/.exec(request.path);
    if (request.method === "GET" && ofOrder) {
      const items = [...payments.values()].filter((p) => p.order_id === ofOrder[1]);
      return { body: { entity: "collection", count: items.length, items } };
    }
    return undefined;
  });
  return {
    baseUrl,
    received,
    orders,
    payments,
    refunds,
    state,
    pay(orderId: string, status = "captured"): RazorpayPayment {
      const order = orders.get(orderId)!;
      const id = `pay_${++next}`;
      const created: RazorpayPayment = {
        id,
        entity: "payment",
        order_id: orderId,
        amount: order.amount,
        currency: order.currency,
        status,
        captured: status === "captured",
      };
      payments.set(id, created);
      return created;
    },
    /** What Razorpay's checkout hands the app: HMAC of "<order id>|<payment id>" with the key secret. */
    checkoutSignature: (orderId: string, paymentId: string, secret = RAZORPAY_KEY_SECRET) =>
      createHmac("sha256", secret).update(`${orderId}|${paymentId}`).digest("hex"),
    /** A webhook body and its headers, signed with the webhook secret (or another). */
    event(type: string, payload: Record<string, unknown>, options: { id?: string; secret?: string } = {}) {
      const body = Buffer.from(JSON.stringify({ entity: "event", event: type, payload, created_at: 0 }));
      return {
        payload: body,
        headers: {
          "x-razorpay-signature": createHmac("sha256", options.secret ?? RAZORPAY_WEBHOOK_SECRET)
            .update(body)
            .digest("hex"),
          "x-razorpay-event-id": options.id ?? `evt_rzp_${++next}`,
        },
      };
    },
  };
}

/** Billing's provider settings pointed at the stand-ins. */
export const providerSettingsFor = (stripe: { baseUrl: string }, razorpay: { baseUrl: string }) => ({
  stripe: {
    secretKey: STRIPE_KEY,
    webhookSecret: STRIPE_WEBHOOK_SECRET,
    toleranceSeconds: 300,
    baseUrl: stripe.baseUrl,
  },
  razorpay: {
    keyId: RAZORPAY_KEY_ID,
    keySecret: RAZORPAY_KEY_SECRET,
    webhookSecret: RAZORPAY_WEBHOOK_SECRET,
    baseUrl: razorpay.baseUrl,
  },
});

export const RAZORPAYX_KEY_ID = "rzpx_test_standin";
export const RAZORPAYX_KEY_SECRET = "rzpx_secret_standin";
export const RAZORPAYX_WEBHOOK_SECRET = "rzpx_webhook_standin";
export const RAZORPAYX_ACCOUNT_NUMBER = "2323230000000001";

interface RazorpayXPayout {
  id: string;
  entity: "payout";
  reference_id: string;
  amount: number;
  currency: string;
  status: string;
  failure_reason: string | null;
}

/**
 * RazorpayX's payouts API as far as billing uses it: `POST /v1/payouts` (composite, Basic auth,
 * X-Payout-Idempotency honoured: the same key is the same payout), `GET /v1/payouts/{id}` and
 * `GET /v1/payouts?reference_id=` (a collection of the payouts with that reference). `answer`
 * decides what a new payout says at once ("processing" by default), or makes the call fail:
 * "down" before the payout is made, "lost" after (made, but the caller gets a 504), "refused" a
 * 400 as RazorpayX answers a payout it will not make (over the mode's limit, say).
 */
export async function razorpayXStandIn(t: Test) {
  const payouts = new Map<string, RazorpayXPayout>();
  const byKey = new Map<string, RazorpayXPayout>();
  const bodies = new Map<string, string>();
  const state = { answer: "processing" as "processing" | "processed" | "down" | "lost" | "refused" };
  let next = 0;
  const basic = `Basic ${Buffer.from(`${RAZORPAYX_KEY_ID}:${RAZORPAYX_KEY_SECRET}`).toString("base64")}`;
  const { baseUrl, received } = await serve(t, (request) => {
    if (request.headers.authorization !== basic)
      return { status: 401, body: { error: { description: "auth" } } };
    const url = new URL(request.path, "http://stand-in");
    if (request.method === "GET" && url.pathname === "/v1/payouts") {
      const reference = url.searchParams.get("reference_id");
      const items = [...payouts.values()].filter((p) => !reference || p.reference_id === reference);
      return { body: { entity: "collection", count: items.length, items } };
    }
    if (request.method === "GET" && url.pathname.startsWith("/v1/payouts/")) {
      const found = payouts.get(decodeURIComponent(url.pathname.slice("/v1/payouts/".length)));
      return found ? { body: found } : undefined;
    }
    if (request.method !== "POST" || url.pathname !== "/v1/payouts") return undefined;
    if (state.answer === "down") return { status: 503, body: { error: { description: "down" } } };
    if (state.answer === "refused")
      return {
        status: 400,
        body: { error: { code: "BAD_REQUEST_ERROR", description: "Amount exceeds the maximum for UPI" } },
      };
    const key = String(request.headers["x-payout-idempotency"] ?? "");
    // As RazorpayX documents it: 4–36 letters, digits, hyphens, underscores or spaces, and the
    // same body every time it is sent.
    if (!/^[A-Za-z0-9 _-]{4,36}$/.test(key))
      return { status: 400, body: { error: { description: "X-Payout-Idempotency is missing or invalid" } } };
    const body = JSON.stringify(request.body);
    const known = byKey.get(key);
    if (known && bodies.get(key) !== body)
      return {
        status: 400,
        body: { error: { description: "Different payload sent with the same idempotency key" } },
      };
    if (known) return { body: known };
    const payout: RazorpayXPayout = {
      id: `pout_${++next}`,
      entity: "payout",
      reference_id: String(request.body.reference_id),
      amount: Number(request.body.amount),
      currency: String(request.body.currency),
      status: state.answer === "lost" ? "processing" : state.answer,
      failure_reason: null,
    };
    payouts.set(payout.id, payout);
    byKey.set(key, payout);
    bodies.set(key, body);
    if (state.answer === "lost") return { status: 504, body: { error: { description: "gateway timeout" } } };
    return { body: payout };
  });
  return {
    baseUrl,
    received,
    payouts,
    state,
    /** A payout webhook (payout.processed, payout.reversed, payout.failed), signed. */
    event(type: string, payout: RazorpayXPayout, options: { id?: string; secret?: string } = {}) {
      const body = Buffer.from(
        JSON.stringify({
          entity: "event",
          event: type,
          payload: { payout: { entity: payout } },
          created_at: 0,
        }),
      );
      return {
        payload: body,
        headers: {
          "x-razorpay-signature": createHmac("sha256", options.secret ?? RAZORPAYX_WEBHOOK_SECRET)
            .update(body)
            .digest("hex"),
          "x-razorpay-event-id": options.id ?? `evt_x_${++next}`,
        },
      };
    },
  };
}

export const razorpayXSettingsFor = (standIn: { baseUrl: string }) => ({
  keyId: RAZORPAYX_KEY_ID,
  keySecret: RAZORPAYX_KEY_SECRET,
  webhookSecret: RAZORPAYX_WEBHOOK_SECRET,
  accountNumber: RAZORPAYX_ACCOUNT_NUMBER,
  baseUrl: standIn.baseUrl,
});
