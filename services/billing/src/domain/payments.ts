import { failedPrecondition, invalidArgument, isAppError } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { posting, WalletBook, type WalletLimits, type WalletPlan } from "./ledger";
import type { Money, Payment, PaymentRefund, PaymentStatus, WalletSnapshot, WalletView } from "./model";
import { INT64_MAX } from "./money";

export interface CreditContext {
  now: Date;
  limits: WalletLimits;
}

/**
 * A top-up about to be created: at most `maxTopUp`, and one the wallet could take now (it is
 * checked again when the money arrives: the balance may have grown by then).
 */
export function planTopUp(
  wallet: WalletSnapshot,
  amount: bigint,
  context: CreditContext & { maxTopUp: bigint },
): void {
  if (amount > context.maxTopUp)
    throw invalidArgument(
      "TOP_UP_LIMIT_EXCEEDED",
      `a top-up may add at most ${context.maxTopUp} ${wallet.currency}`,
      {
        metadata: { max_top_up_minor: context.maxTopUp.toString(), currency: wallet.currency },
        fieldViolations: [{ field: "amount.amount_minor", description: `at most ${context.maxTopUp}` }],
      },
    );
  new WalletBook(wallet, context.now, context.limits).creditable(amount);
}

/** What a provider event does to a payment, decided before any wallet is locked. */
export type PaymentDecision =
  | { kind: "keep" }
  | { kind: "mark"; status: Exclude<PaymentStatus, "pending" | "succeeded"> }
  | { kind: "credit" }
  | { kind: "flag"; finding: "duplicate_capture" };

/**
 * A provider event, applied once per event id: a replay, a pending event or anything after
 * success keeps the payment as it is; a failure or cancellation marks a pending payment; a
 * success credits the wallet (a late success after a failure is still money received), but
 * only for the amount and currency the payment was created with. A payment credits once
 * whatever reports it (webhook, checkout proof, reconciliation); a success of another provider
 * payment for a payment already credited (the order captured twice upstream) is flagged for
 * refund, never credited.
 */
export function decidePaymentEvent(
  payment: Payment,
  event: {
    status: PaymentStatus;
    amount: bigint;
    currency: string;
    firstTime: boolean;
    providerPaymentId: string;
  },
): PaymentDecision {
  if (!event.firstTime || event.status === "pending") return { kind: "keep" };
  if (payment.status === "succeeded")
    return event.status === "succeeded" &&
      event.providerPaymentId !== "" &&
      payment.providerPaymentId !== "" &&
      event.providerPaymentId !== payment.providerPaymentId
      ? { kind: "flag", finding: "duplicate_capture" }
      : { kind: "keep" };
  if (event.status !== "succeeded")
    return payment.status === "pending" ? { kind: "mark", status: event.status } : { kind: "keep" };
  if (event.amount !== payment.amount || event.currency !== payment.currency)
    throw failedPrecondition(
      "PAYMENT_AMOUNT_MISMATCH",
      `provider reports ${event.amount} ${event.currency}, payment is ${payment.amount} ${payment.currency}`,
    );
  return { kind: "credit" };
}

/** A wallet as its owner sees it, from the plan that just moved it. */
const viewOf = (book: WalletBook): WalletView => ({
  userId: book.userId,
  currency: book.currency,
  balance: book.balance,
  held: book.held,
  available: book.available,
  minutesLeft: 0n,
  frozen: book.frozen,
});

/** Money into a wallet from a platform account (clearing for payments, promotions for grants). */
function credit(
  wallet: WalletSnapshot,
  input: {
    amount: bigint;
    from: "clearing" | "promotions";
    type: "top_up" | "promotion";
    reference: (transactionId: string) => string;
  },
  context: CreditContext,
): WalletPlan<{ transactionId: string; wallet: WalletView }> {
  const book = new WalletBook(wallet, context.now, context.limits);
  const balanceAfter = book.credit(input.amount);
  const transactionId = newId();
  return {
    wallet: book.changes(),
    postings: [
      posting({
        transactionId,
        type: input.type,
        currency: wallet.currency,
        reference: input.reference(transactionId),
        lines: [
          { account: { kind: input.from }, amount: -input.amount, balanceAfter: null },
          { account: { kind: "wallet", accountId: book.accountId! }, amount: input.amount, balanceAfter },
        ],
      }),
    ],
    result: { transactionId, wallet: viewOf(book) },
  };
}

/** A credit from the promotions budget; refused past the wallet limit. */
export const planGrant = (wallet: WalletSnapshot, amount: bigint, context: CreditContext) =>
  credit(
    wallet,
    { amount, from: "promotions", type: "promotion", reference: (transactionId) => `grant:${transactionId}` },
    context,
  );

/**
 * A confirmed payment's credit. Past the wallet limit it is not credited: the payment fails
 * with the reason recorded (the provider is answered, so it stops retrying) and an
 * `uncredited_capture` finding puts the money the provider took on staff's queue to refund there.
 */
export function planPaymentCredit(
  wallet: WalletSnapshot,
  payment: Payment,
  context: CreditContext,
): WalletPlan<{ transactionId: string } | { failureReason: string }> {
  try {
    const plan = credit(
      wallet,
      {
        amount: payment.amount,
        from: "clearing",
        type: "top_up",
        reference: () => `payment:${payment.paymentId}`,
      },
      context,
    );
    return { ...plan, result: { transactionId: plan.result.transactionId } };
  } catch (error) {
    if (!isAppError(error, "WALLET_BALANCE_LIMIT_EXCEEDED")) throw error;
    return { wallet: undefined, postings: [], result: { failureReason: error.reason } };
  }
}

/** One report reconciliation applies to a payment, like a webhook with its own event id. */
export interface ReconcileStep {
  eventId: string;
  status: PaymentStatus;
  providerPaymentId: string;
  amount: bigint;
  currency: string;
  /** The finding to record when the step changes the payment (credits it, fails or expires it). */
  finding: "reconciled_credited" | "reconciled_failed" | "reconciled_expired";
}

/**
 * What the provider's payments for one of ours settle: every capture is applied (the one
 * already credited first, so any other is flagged as a duplicate capture, never credited; the
 * first one credits a pending payment); with none captured, a payment whose attempts all failed
 * fails, and one the provider still has unpaid past `expiresBefore` expires. Each step has an
 * event id of its own, so reconciling again (another instance, the staff RPC) changes nothing.
 */
export function planReconciliation(
  payment: Payment,
  reported: readonly {
    providerPaymentId: string;
    status: "pending" | "succeeded" | "failed" | "cancelled";
    amount: bigint;
    currency: string;
  }[],
  expiresBefore: Date,
): ReconcileStep[] {
  const captured = reported
    .filter((attempt) => attempt.status === "succeeded")
    .sort(
      (a, b) =>
        Number(b.providerPaymentId === payment.providerPaymentId) -
        Number(a.providerPaymentId === payment.providerPaymentId),
    );
  if (captured.length > 0)
    return captured.map((attempt) => ({
      ...attempt,
      eventId: `reconcile:${attempt.providerPaymentId}:succeeded`,
      finding: "reconciled_credited",
    }));
  if (payment.status !== "pending") return [];
  const failed = reported.filter((attempt) => attempt.status === "failed" || attempt.status === "cancelled");
  if (failed.length > 0 && failed.length === reported.length) {
    const last = failed.at(-1)!;
    return [
      {
        ...last,
        status: "failed",
        eventId: `reconcile:${last.providerPaymentId}:failed`,
        finding: "reconciled_failed",
      },
    ];
  }
  if (payment.createdAt >= expiresBefore) return [];
  return [
    {
      eventId: `reconcile:${payment.paymentId}:expired`,
      status: "expired",
      providerPaymentId: "",
      amount: payment.amount,
      currency: payment.currency,
      finding: "reconciled_expired",
    },
  ];
}

/**
 * A refund of a top-up: only of a succeeded payment, at most what it paid less what earlier
 * refunds (not failed) took; the amount leaves the wallet now, from what is available (so it
 * cannot be spent while the provider works), for the clearing account the top-up came from.
 */
export function planPaymentRefund(
  wallet: WalletSnapshot,
  input: { payment: Payment; refunded: bigint; amount: Money | undefined },
  context: CreditContext,
): WalletPlan<PaymentRefund> {
  const { payment } = input;
  if (input.amount && input.amount.currency !== payment.currency)
    throw invalidArgument(
      "CURRENCY_MISMATCH",
      `this payment was made in ${payment.currency}, not ${input.amount.currency}`,
      { fieldViolations: [{ field: "amount.currency", description: `must be ${payment.currency}` }] },
    );
  if (payment.status !== "succeeded")
    throw failedPrecondition("PAYMENT_NOT_SUCCEEDED", `payment ${payment.paymentId} is ${payment.status}`);
  const refundable = payment.amount - input.refunded;
  const amount = input.amount?.amountMinor ?? refundable;
  if (amount <= 0n || amount > refundable)
    throw failedPrecondition(
      "REFUND_EXCEEDS_PAID",
      `at most ${refundable} ${payment.currency} may be refunded`,
      {
        metadata: { refundable_minor: refundable.toString() },
      },
    );
  const book = new WalletBook(wallet, context.now, context.limits);
  const { balanceAfter } = book.debit(amount);
  const refund: PaymentRefund = {
    refundId: newId(),
    paymentId: payment.paymentId,
    currency: payment.currency,
    amount,
    status: "pending",
    providerRefundId: "",
    createdAt: context.now,
    updatedAt: context.now,
  };
  return {
    wallet: book.changes(),
    postings: [
      posting({
        transactionId: newId(),
        type: "top_up_refund",
        currency: payment.currency,
        reference: `payment_refund:${refund.refundId}`,
        lines: [
          { account: { kind: "wallet", accountId: book.accountId! }, amount: -amount, balanceAfter },
          { account: { kind: "clearing" }, amount, balanceAfter: null },
        ],
      }),
    ],
    result: refund,
  };
}

/**
 * The provider's word on a refund: processed moves no money (it left the wallet when requested);
 * failed puts the amount back in the wallet, also after a processed one (a card closed since:
 * Stripe fails a succeeded refund and keeps the money, so the payer never got it). A failed
 * refund is final, and news that changes nothing changes nothing (undefined).
 */
export function planRefundOutcome(
  wallet: WalletSnapshot,
  refund: PaymentRefund,
  status: "processed" | "failed",
  context: CreditContext,
): WalletPlan<PaymentRefund> | undefined {
  if (refund.status === "failed" || refund.status === status) return undefined;
  const settled = { ...refund, status, updatedAt: context.now };
  if (status === "processed") return { wallet: undefined, postings: [], result: settled };
  const book = new WalletBook(wallet, context.now, { maxBalance: INT64_MAX });
  const balanceAfter = book.credit(refund.amount);
  return {
    wallet: book.changes(),
    postings: [
      posting({
        transactionId: newId(),
        type: "top_up_refund",
        currency: refund.currency,
        reference: `payment_refund:${refund.refundId}`,
        lines: [
          { account: { kind: "clearing" }, amount: -refund.amount, balanceAfter: null },
          { account: { kind: "wallet", accountId: book.accountId! }, amount: refund.amount, balanceAfter },
        ],
      }),
    ],
    result: settled,
  };
}
