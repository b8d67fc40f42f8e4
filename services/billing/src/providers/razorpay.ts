import { invalidArgument } from "@parley/kit/errors";
import Razorpay from "razorpay";
import type { PaymentProvider, ProviderEvent, ProviderPayment } from "../domain/ports";
import { asNumber, providerCall } from "./calls";
import { hmacMatches, parseJson, signatureInvalid } from "./signatures";

export interface RazorpayOptions {
  keyId: string;
  keySecret: string;
  webhookSecret: string;
  /** The API's base URL (https://api.razorpay.com; a stand-in in tests). */
  baseUrl: string;
}

interface RazorpayPaymentEntity {
  id: string;
  order_id?: string | null;
  amount: number | string;
  currency: string;
  status: string;
  captured?: boolean;
}

const STATUS: Record<string, ProviderPayment["status"]> = {
  captured: "succeeded",
  failed: "failed",
};

interface RazorpayRefundEntity {
  id: string;
  status: string;
  /** Ours as we sent it; Razorpay answers an empty `[]` when there are none. */
  notes?: { refund_id?: string };
}

const refundOf = (entity: RazorpayRefundEntity) => ({
  providerRefundId: entity.id,
  status:
    entity.status === "processed"
      ? ("processed" as const)
      : entity.status === "failed"
        ? ("failed" as const)
        : ("pending" as const),
});

const REFUNDS_PAGE = 100;
/** How far back a lost refund is looked for among a payment's refunds (newest first). */
const REFUNDS_SEARCHED = 1_000;

/** Razorpay answers an id it does not know with 400 "The id provided does not exist" (or 404). */
const unknownId = (error: unknown) => {
  const { statusCode, error: body } = (error ?? {}) as {
    statusCode?: number;
    error?: { description?: string };
  };
  return statusCode === 404 || (statusCode === 400 && /does not exist/i.test(body?.description ?? ""));
};

/** The SDK's axios instance: the SDK takes no per-request headers, which refund idempotency needs. */
interface SdkHttp {
  defaults: { baseURL: string };
  post(url: string, data: unknown, config: { headers: Record<string, string> }): Promise<{ data: unknown }>;
}

const paymentOf = (entity: RazorpayPaymentEntity): ProviderPayment => ({
  providerReference: entity.order_id ?? "",
  providerPaymentId: entity.id,
  // "created" and "authorized" (captured automatically for orders) are still on their way.
  // "refunded" is money captured and refunded since, or an authorisation Razorpay gave back
  // uncaptured (a late one): only the first was ever paid.
  status:
    entity.status === "refunded"
      ? entity.captured
        ? "succeeded"
        : "failed"
      : (STATUS[entity.status] ?? "pending"),
  amount: BigInt(entity.amount),
  currency: entity.currency.toUpperCase(),
});

/**
 * Razorpay through its SDK: a top-up is an order (receipt = our payment id) the app opens
 * checkout with; checkout's proof is an HMAC of "<order id>|<payment id>" with the key secret;
 * webhooks carry X-Razorpay-Signature (an HMAC of the raw body with the webhook secret) and
 * X-Razorpay-Event-Id. One order may see several payment attempts: each is a provider payment.
 */
export function razorpayProvider(options: RazorpayOptions): PaymentProvider {
  const razorpay = new Razorpay({ key_id: options.keyId, key_secret: options.keySecret });
  const http = (razorpay.api as unknown as { rq: SdkHttp }).rq;
  // The SDK fixes https://api.razorpay.com as the base of its axios instance; point it elsewhere.
  http.defaults.baseURL = options.baseUrl.replace(/\/$/, "");
  const call = <T>(request: () => Promise<T>) => providerCall("razorpay", request);
  return {
    name: "razorpay",
    async createPayment({ paymentId, amount, currency }) {
      const order = await call(() =>
        razorpay.orders.create({
          amount: asNumber(amount),
          currency,
          receipt: paymentId,
          notes: { payment_id: paymentId },
        }),
      );
      return { providerReference: order.id, clientSecret: "" };
    },

    parseWebhook(payload, headers) {
      const signature = headers["x-razorpay-signature"];
      if (!signature || !hmacMatches(options.webhookSecret, payload, signature))
        throw signatureInvalid("X-Razorpay-Signature does not match the body");
      const body = parseJson(payload);
      const eventId = headers["x-razorpay-event-id"];
      if (!eventId) throw invalidArgument("INVALID_BODY", "X-Razorpay-Event-Id is missing");
      return mapEvent(eventId, body);
    },

    verifyCheckout({ providerReference, providerPaymentId, signature }) {
      return hmacMatches(options.keySecret, `${providerReference}|${providerPaymentId}`, signature);
    },

    async refund({ refundId, providerPaymentId, amount }) {
      // X-Refund-Idempotency: a send repeated after a lost answer is the same refund, not another.
      const { data } = await call(() =>
        http.post(
          `/v1/payments/${encodeURIComponent(providerPaymentId)}/refund`,
          { amount: asNumber(amount), receipt: refundId, notes: { refund_id: refundId } },
          { headers: { "X-Refund-Idempotency": `refund_${refundId}` } },
        ),
      );
      return refundOf(data as RazorpayRefundEntity);
    },

    async findRefund({ refundId, providerRefundId, providerPaymentId }) {
      return call(async () => {
        if (providerRefundId) {
          try {
            return refundOf(await razorpay.payments.fetchRefund(providerPaymentId, providerRefundId));
          } catch (error) {
            if (unknownId(error)) return undefined;
            throw error;
          }
        }
        // The payment's refunds, a page of 100 (Razorpay's most) at a time, for ours by its notes.
        for (let skip = 0; skip < REFUNDS_SEARCHED; skip += REFUNDS_PAGE) {
          const page = await razorpay.payments.fetchMultipleRefund(providerPaymentId, {
            count: REFUNDS_PAGE,
            skip,
          });
          const items = page.items as RazorpayRefundEntity[];
          const found = items.find((item) => item.notes?.refund_id === refundId);
          if (found) return refundOf(found);
          if (items.length < REFUNDS_PAGE) return undefined;
        }
        return undefined;
      });
    },

    async fetchPayment(providerPaymentId) {
      const entity = await call(() => razorpay.payments.fetch(providerPaymentId));
      return paymentOf(entity as unknown as RazorpayPaymentEntity);
    },

    async paymentsOf(providerReference) {
      const list = await call(() => razorpay.orders.fetchPayments(providerReference));
      return (list.items as unknown as RazorpayPaymentEntity[]).map(paymentOf);
    },
  };
}

function mapEvent(eventId: string, body: Record<string, unknown>): ProviderEvent {
  const type = String(body.event ?? "");
  const payload = (body.payload ?? {}) as Record<string, { entity?: Record<string, unknown> } | undefined>;
  const payment = payload.payment?.entity as RazorpayPaymentEntity | undefined;
  switch (type) {
    case "payment.captured":
    case "order.paid":
    case "payment.failed": {
      if (!payment) throw invalidArgument("INVALID_BODY", `${type} carries no payment`);
      const mapped = paymentOf(payment);
      return {
        eventId,
        kind: "payment",
        payment: { ...mapped, status: type === "payment.failed" ? "failed" : "succeeded" },
      };
    }
    case "refund.processed":
    case "refund.failed": {
      const refund = payload.refund?.entity as
        | (RazorpayRefundEntity & { payment_id: string; amount?: number | string; currency?: string })
        | undefined;
      if (!refund) throw invalidArgument("INVALID_BODY", `${type} carries no refund`);
      return {
        eventId,
        kind: "refund",
        refundId: refund.notes?.refund_id ?? "",
        providerRefundId: refund.id,
        status: type === "refund.processed" ? "processed" : "failed",
        providerPaymentId: refund.payment_id,
        amount: BigInt(refund.amount ?? 0),
        currency: (refund.currency ?? "").toUpperCase(),
      };
    }
    case "payment.dispute.created": {
      const dispute = payload.dispute?.entity as
        | { payment_id: string; amount: number; currency: string }
        | undefined;
      if (!dispute) throw invalidArgument("INVALID_BODY", `${type} carries no dispute`);
      return {
        eventId,
        kind: "dispute",
        providerPaymentId: dispute.payment_id,
        amount: BigInt(dispute.amount),
        currency: dispute.currency.toUpperCase(),
      };
    }
    default:
      return { eventId, kind: "ignored", type };
  }
}
