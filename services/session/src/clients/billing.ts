import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { BillingServiceService, SessionKind } from "@parley/proto/parley/billing/v1/billing";
import type { BillingPort } from "../domain/ports";

export type BillingClient = ServiceClient<typeof BillingServiceService>;

export function createBillingClient(address: string, credentials: () => Promise<string>): BillingClient {
  return createServiceClient(BillingServiceService, {
    address,
    credentials,
    // All of these are idempotent by request_id, or by (session, minute) for Charge.
    idempotent: ["placeHold", "releaseHold", "charge", "settleSession"],
    defaultDeadlineMs: 10_000,
  });
}

/** Billing as the session domain sees it, over gRPC. */
export function billingPort(client: BillingClient): BillingPort {
  return {
    async placeHold(input) {
      const { hold } = await client.placeHold({
        userId: input.userId,
        amount: { amountMinor: input.amountMinor, currency: input.currency },
        requestId: input.requestId,
        reference: input.reference,
        ttlSeconds: BigInt(input.ttlSeconds),
      });
      return { holdId: hold!.holdId };
    },
    async releaseHold(holdId, requestId) {
      await client.releaseHold({ holdId, requestId });
    },
    async charge(input) {
      const response = await client.charge({
        sessionId: input.sessionId,
        minute: BigInt(input.minute),
        payerUserId: input.payerUserId,
        payeeUserId: input.payeeUserId,
        amount: { amountMinor: input.amountMinor, currency: input.currency },
        holdId: input.holdId ?? "",
      });
      return { minutesLeft: response.minutesLeft };
    },
    async settleSession(input) {
      const { invoice } = await client.settleSession({
        sessionId: input.sessionId,
        payerUserId: input.payerUserId,
        payeeUserId: input.payeeUserId,
        holdId: input.holdId ?? "",
        rate: { amountMinor: input.rateMinor, currency: input.currency },
        kind: input.kind === "chat" ? SessionKind.SESSION_KIND_CHAT : SessionKind.SESSION_KIND_CALL,
      });
      return { invoiceId: invoice?.invoiceId ?? "" };
    },
  };
}
