import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import {
  BillingServiceService,
  type ChargeOutcome as ChargeOutcomeMessage,
  RefundReason,
  SessionKind,
} from "@parley/proto/parley/billing/v1/billing";
import type { BillingPort, ChargeOutcome } from "../domain/ports";

export type BillingClient = ServiceClient<typeof BillingServiceService>;

export function createBillingClient(address: string, credentials: () => Promise<string>): BillingClient {
  return createServiceClient(BillingServiceService, {
    address,
    credentials,
    // All of these are idempotent by request_id, or by (session, minute) for ChargeBatch.
    idempotent: ["placeHold", "releaseHold", "chargeBatch", "settleSession", "refund"],
    defaultDeadlineMs: 10_000,
  });
}

/** A full batch is one set-based transaction in billing; it gets longer than a single call. */
const CHARGE_BATCH_DEADLINE_MS = 15_000;

function toOutcome(message: ChargeOutcomeMessage): ChargeOutcome {
  const outcome = message.outcome;
  switch (outcome?.$case) {
    case "charged":
    case "replayed":
      return {
        kind: "charged",
        minutesLeft: outcome.value.minutesLeft,
        replayed: outcome.$case === "replayed",
      };
    case "insufficientFunds":
      return { kind: "insufficient_funds", shortfallMinor: outcome.value.shortfall?.amountMinor ?? 0n };
    case "settled":
      return { kind: "settled" };
    case "refused":
      return { kind: "refused", reason: outcome.value.reason, message: outcome.value.message };
    default:
      // A kind this client does not know yet: not paid, and not to be retried blindly.
      return {
        kind: "refused",
        reason: "UNKNOWN_OUTCOME",
        message: "billing answered an outcome session does not know",
      };
  }
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
    async chargeBatch(items) {
      const { outcomes } = await client.chargeBatch(
        {
          items: items.map((item) => ({
            sessionId: item.sessionId,
            minute: BigInt(item.minute),
            payerUserId: item.payerUserId,
            payeeUserId: item.payeeUserId,
            amount: { amountMinor: item.amountMinor, currency: item.currency },
            holdId: item.holdId ?? "",
          })),
        },
        { deadlineMs: CHARGE_BATCH_DEADLINE_MS },
      );
      return outcomes.map(toOutcome);
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
    async refund(input) {
      const { refund } = await client.refund({
        sessionId: input.sessionId,
        amount: input.amount
          ? { amountMinor: input.amount.minor, currency: input.amount.currency }
          : undefined,
        // Disputes are the customer's request that support agreed to.
        reason: RefundReason.REFUND_REASON_CUSTOMER_REQUEST,
        note: input.note,
        requestId: input.requestId,
      });
      return { refundId: refund?.refundId ?? "", amountMinor: refund?.amount?.amountMinor ?? 0n };
    },
  };
}
