import { notFound } from "@parley/kit/errors";
import type { PaymentProvider, ProviderPayment } from "../domain/ports";

/**
 * The development provider (`pnpm start`, tests): no network. A top-up's reference is
 * `parley_<payment id>`; its events arrive as ConfirmPayment through the edge's
 * `parley-signature` route, so it has no webhook format of its own; a fetch reports the payment
 * still pending (reconciliation expires it once it is old enough); a refund is processed at once.
 */
export function developmentProvider(): PaymentProvider {
  const pending = (reference: string): ProviderPayment => ({
    providerReference: reference,
    providerPaymentId: "",
    status: "pending",
    amount: 0n,
    currency: "",
  });
  return {
    name: "development",
    async createPayment({ paymentId }) {
      return { providerReference: `parley_${paymentId}`, clientSecret: "" };
    },
    parseWebhook() {
      throw notFound(
        "PROVIDER_NOT_SUPPORTED",
        "the development provider's events come through ConfirmPayment",
      );
    },
    async refund({ refundId }) {
      return { providerRefundId: `dev_${refundId}`, status: "processed" };
    },
    async findRefund({ providerRefundId }) {
      // It refunds at once: a refund it answered for is processed, one it never answered for unknown.
      return providerRefundId ? { providerRefundId, status: "processed" } : undefined;
    },
    async fetchPayment(providerPaymentId) {
      return pending(providerPaymentId);
    },
    async paymentsOf() {
      return [];
    },
  };
}
