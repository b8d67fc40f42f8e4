import { failedPrecondition, invalidArgument, notFound } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { posting, WalletBook, type WalletLimits, type WalletPlan } from "./ledger";
import type { Refund, RefundReason, WalletSnapshot } from "./model";
import { proportionalShare } from "./money";

/** A session's charges and refunds so far, read under its payer's wallet lock. */
export interface RefundSnapshot {
  sessionId: string;
  payerUserId: string;
  payeeUserId: string;
  currency: string;
  charged: bigint;
  commission: bigint;
  refunded: bigint;
  commissionReversed: bigint;
  wallet: WalletSnapshot;
  /** The payee's earnings balance now. */
  earnings: bigint;
}

export interface RefundPlan extends WalletPlan<Refund> {
  payeeUserId: string;
  earningsReversed: bigint;
  commissionReversed: bigint;
}

export const sessionChargesNotFound = (sessionId: string) =>
  notFound("SESSION_CHARGES_NOT_FOUND", `session ${sessionId} has no charges`);

/**
 * Gives back part or all of what a session charged and has not refunded yet; the expert's
 * earnings and the platform's commission are reversed in the proportion still unreversed.
 */
export function planRefund(
  snapshot: RefundSnapshot,
  input: { amount: { minor: bigint; currency: string } | undefined; reason: RefundReason; note: string },
  context: { now: Date; limits: WalletLimits },
): RefundPlan {
  const refundable = snapshot.charged - snapshot.refunded;
  if (input.amount && input.amount.currency !== snapshot.currency)
    throw invalidArgument(
      "CURRENCY_MISMATCH",
      `this session was charged in ${snapshot.currency}, not ${input.amount.currency}`,
      { fieldViolations: [{ field: "amount.currency", description: `must be ${snapshot.currency}` }] },
    );
  const amount = input.amount?.minor ?? refundable;
  if (amount <= 0n || amount > refundable)
    throw failedPrecondition(
      "REFUND_EXCEEDS_CHARGED",
      `at most ${refundable} ${snapshot.currency} of this session can be refunded`,
      { metadata: { refundable_minor: refundable.toString(), currency: snapshot.currency } },
    );
  const commissionReversed = proportionalShare(
    amount,
    snapshot.commission - snapshot.commissionReversed,
    refundable,
  );
  const earningsReversed = amount - commissionReversed;
  if (earningsReversed > snapshot.earnings)
    throw failedPrecondition(
      "EARNINGS_INSUFFICIENT",
      `the expert's earnings (${snapshot.earnings} ${snapshot.currency}) no longer cover the reversal`,
    );
  const book = new WalletBook(snapshot.wallet, context.now, context.limits);
  const balanceAfter = book.credit(amount);
  const refundId = newId();
  const transactionId = newId();
  return {
    wallet: book.changes(),
    postings: [
      posting({
        transactionId,
        type: "refund",
        currency: snapshot.currency,
        reference: `refund:${refundId}`,
        lines: [
          { account: { kind: "wallet", accountId: book.accountId! }, amount, balanceAfter },
          {
            account: { kind: "earnings", userId: snapshot.payeeUserId },
            amount: -earningsReversed,
            balanceAfter: null,
          },
          { account: { kind: "revenue" }, amount: -commissionReversed, balanceAfter: null },
        ],
      }),
    ],
    result: {
      refundId,
      sessionId: snapshot.sessionId,
      payerUserId: snapshot.payerUserId,
      currency: snapshot.currency,
      amount,
      reason: input.reason,
      note: input.note,
      transactionId,
      createdAt: context.now,
    },
    payeeUserId: snapshot.payeeUserId,
    earningsReversed,
    commissionReversed,
  };
}
