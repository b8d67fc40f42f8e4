import { invalidArgument } from "@parley/kit/errors";
import Stripe from "stripe";
import type { PaymentProvider, ProviderEvent, ProviderPayment } from "../domain/ports";
import { asNumber, providerCall } from "./calls";
import { signatureInvalid } from "./signatures";

export interface StripeOptions {
  secretKey: string;
  webhookSecret: string;
  /** Seconds a Stripe-Signature timestamp may be off (Stripe's default is 300). */
  toleranceSeconds: number;
  /** The API's base URL (https://api.stripe.com; a stand-in in tests). */
  baseUrl: string;
}

const STATUS: Record<string, ProviderPayment["status"]> = {
  succeeded: "succeeded",
  canceled: "cancelled",
};

const paymentOf = (intent: Stripe.PaymentIntent): ProviderPayment => ({
  providerReference: intent.id,
  providerPaymentId: intent.id,
  status:
    STATUS[intent.status] ??
    (intent.status === "requires_payment_method" && intent.last_payment_error ? "failed" : "pending"),
  amount: BigInt(intent.amount_received || intent.amount),
  currency: intent.currency.toUpperCase(),
});

/**
 * Stripe through its SDK: a top-up is a PaymentIntent (idempotent by our payment id) whose
 * client secret the app confirms; webhooks are checked by stripe.webhooks.constructEvent
 * (`Stripe-Signature`, t= and v1=, within the tolerance). One PaymentIntent is one payment:
 * its id is both our reference and the provider payment id.
 */
export function stripeProvider(options: StripeOptions): PaymentProvider {
  const url = new URL(options.baseUrl);
  const stripe = new Stripe(options.secretKey, {
    host: url.hostname,
    port: url.port || (url.protocol === "http:" ? 80 : 443),
    protocol: url.protocol === "http:" ? "http" : "https",
    maxNetworkRetries: 2,
    timeout: 10_000,
  });
  return {
    name: "stripe",
    async createPayment({ paymentId, amount, currency }) {
      const intent = await providerCall("stripe", () =>
        stripe.paymentIntents.create(
          {
            amount: asNumber(amount),
            currency: currency.toLowerCase(),
            metadata: { payment_id: paymentId },
            automatic_payment_methods: { enabled: true },
          },
          { idempotencyKey: `topup:${paymentId}` },
        ),
      );
      return { providerReference: intent.id, clientSecret: intent.client_secret ?? "" };
    },

    parseWebhook(payload, headers) {
      const header = headers["stripe-signature"];
      if (!header) throw signatureInvalid("missing Stripe-Signature header");
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(
          payload,
          header,
          options.webhookSecret,
          options.toleranceSeconds,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (/tolerance/i.test(message))
          throw invalidArgument("SIGNATURE_STALE", "the Stripe-Signature timestamp is outside the tolerance");
        throw signatureInvalid("the Stripe-Signature does not match the body");
      }
      return mapEvent(event);
    },

    async refund({ refundId, providerPaymentId, amount }) {
      const refund = await providerCall("stripe", () =>
        stripe.refunds.create(
          { payment_intent: providerPaymentId, amount: asNumber(amount), metadata: { refund_id: refundId } },
          { idempotencyKey: `refund:${refundId}` },
        ),
      );
      return { providerRefundId: refund.id, status: refundStatus(refund.status) };
    },

    async findRefund({ refundId, providerRefundId, providerPaymentId }) {
      return providerCall("stripe", async () => {
        if (providerRefundId) {
          try {
            const refund = await stripe.refunds.retrieve(providerRefundId);
            return { providerRefundId: refund.id, status: refundStatus(refund.status) };
          } catch (error) {
            if (error instanceof Stripe.errors.StripeError && error.statusCode === 404) return undefined;
            throw error;
          }
        }
        for await (const refund of stripe.refunds.list({ payment_intent: providerPaymentId, limit: 100 }))
          if (refund.metadata?.refund_id === refundId)
            return { providerRefundId: refund.id, status: refundStatus(refund.status) };
        return undefined;
      });
    },

    async fetchPayment(providerPaymentId) {
      return paymentOf(await providerCall("stripe", () => stripe.paymentIntents.retrieve(providerPaymentId)));
    },

    async paymentsOf(providerReference) {
      return [await this.fetchPayment(providerReference)];
    },
  };
}

const refundStatus = (status: string | null): "pending" | "processed" | "failed" =>
  status === "succeeded" ? "processed" : status === "failed" || status === "canceled" ? "failed" : "pending";

function mapEvent(event: Stripe.Event): ProviderEvent {
  switch (event.type) {
    case "refund.created":
    case "refund.updated":
    case "refund.failed": {
      const refund = event.data.object;
      const intent = refund.payment_intent;
      return {
        eventId: event.id,
        kind: "refund",
        refundId: refund.metadata?.refund_id ?? "",
        providerRefundId: refund.id,
        status: event.type === "refund.failed" ? "failed" : refundStatus(refund.status),
        providerPaymentId: typeof intent === "string" ? intent : (intent?.id ?? ""),
        amount: BigInt(refund.amount ?? 0),
        currency: (refund.currency ?? "").toUpperCase(),
      };
    }
    case "payment_intent.succeeded":
    case "payment_intent.payment_failed":
    case "payment_intent.canceled": {
      const payment = paymentOf(event.data.object);
      const status =
        event.type === "payment_intent.succeeded"
          ? "succeeded"
          : event.type === "payment_intent.canceled"
            ? "cancelled"
            : "failed";
      return { eventId: event.id, kind: "payment", payment: { ...payment, status } };
    }
    case "charge.dispute.created": {
      const dispute = event.data.object;
      const intent = dispute.payment_intent;
      return {
        eventId: event.id,
        kind: "dispute",
        providerPaymentId: typeof intent === "string" ? intent : (intent?.id ?? ""),
        amount: BigInt(dispute.amount),
        currency: dispute.currency.toUpperCase(),
      };
    }
    default:
      return { eventId: event.id, kind: "ignored", type: event.type };
  }
}
