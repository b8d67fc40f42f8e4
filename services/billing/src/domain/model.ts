/** Billing's own vocabulary, free of gRPC and SQL types. Amounts are minor units (bigint). */

export type HoldStatus = "open" | "captured" | "released" | "expired";
export type PaymentStatus = "pending" | "succeeded" | "failed" | "cancelled" | "expired";
export type TransactionType =
  | "top_up"
  | "session_charge"
  | "hold_capture"
  | "refund"
  | "promotion"
  | "payout"
  | "top_up_refund";
export type UserAccountKind = "wallet" | "earnings";
export type SessionKind = "chat" | "call";
export type RefundReason = "service_issue" | "billing_error" | "customer_request" | "goodwill" | "other";

export interface Money {
  amountMinor: bigint;
  currency: string;
}

export interface WalletView {
  userId: string;
  currency: string;
  balance: bigint;
  held: bigint;
  available: bigint;
  minutesLeft: bigint;
  /** Frozen by staff: it pays nothing (minutes, holds, withdrawals) until unfrozen; top-ups land. */
  frozen: boolean;
}

export interface AccountEntry {
  /** Keyset cursor: entry ids grow with time. */
  entryId: bigint;
  transactionId: string;
  type: TransactionType;
  currency: string;
  amount: bigint;
  balanceAfter: bigint;
  reference: string;
  createdAt: Date;
}

export interface Hold {
  holdId: string;
  userId: string;
  currency: string;
  amount: bigint;
  captured: bigint;
  status: HoldStatus;
  reference: string;
  expiresAt: Date;
  createdAt: Date;
}

/** A hold as stored: its status is the stored one (an open hold may be past its expiry). */
export interface HoldRecord extends Hold {
  accountId: string;
  resolvedAt: Date | null;
}

/**
 * A wallet read under its row lock, with every hold on it still stored as open and any other
 * hold of it a move names. A wallet that never received money has no account yet.
 */
export interface WalletSnapshot {
  accountId: string | undefined;
  userId: string;
  currency: string;
  balance: bigint;
  holds: HoldRecord[];
  /** Frozen by staff: nothing leaves it and nothing new is reserved; credits still land. */
  frozen?: boolean;
}

/** A hold's new state, written as planned. */
export interface HoldChange {
  holdId: string;
  captured: bigint;
  status: HoldStatus;
  expiresAt: Date;
  resolvedAt: Date | null;
}

/**
 * What a plan does to one locked wallet: its new balance, what its open holds reserve in all
 * (stored as open, whether or not past expiry), and each hold it changes or places.
 */
export interface WalletChanges {
  accountId: string;
  balance: bigint;
  openHeld: bigint;
  holds: HoldChange[];
  placed: HoldRecord[];
}

export interface Payment {
  paymentId: string;
  userId: string;
  currency: string;
  amount: bigint;
  status: PaymentStatus;
  provider: string;
  providerReference: string;
  providerPaymentId: string;
  /** Why a payment failed on our side (e.g. WALLET_BALANCE_LIMIT_EXCEEDED); empty otherwise. */
  failureReason: string;
  /** Stripe's PaymentIntent client secret, for the payer's app; empty otherwise. */
  clientSecret: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Something found about a payment that needs a person: a duplicate capture to refund, a dispute,
 * a refund made at the provider rather than through Parley, one of ours the provider does not
 * know, what reconciliation settled.
 */
export const PAYMENT_FINDING_KINDS = [
  "duplicate_capture",
  "uncredited_capture",
  "dispute",
  "provider_refund",
  "refund_unknown",
  "reconciled_credited",
  "reconciled_failed",
  "reconciled_expired",
] as const;
export type PaymentFindingKind = (typeof PAYMENT_FINDING_KINDS)[number];

export interface PaymentFinding {
  findingId: string;
  paymentId: string;
  kind: PaymentFindingKind;
  providerPaymentId: string;
  /** The provider's refund, for a `provider_refund` or `refund_unknown`; empty otherwise. */
  providerRefundId: string;
  amount: bigint;
  currency: string;
  createdAt: Date;
}

export interface ChargeResult {
  transactionId: string;
  currency: string;
  available: bigint;
  balance: bigint;
  minutesLeft: bigint;
}

/** What became of one minute of a ChargeBatch. */
export type ChargeOutcome =
  | { kind: "charged" | "replayed"; result: ChargeResult }
  | { kind: "insufficient_funds"; shortfall: bigint; currency: string }
  | { kind: "settled" }
  | { kind: "refused"; reason: string; message: string };

export interface InvoiceLine {
  kind: "minutes" | "refund";
  description: string;
  quantity: bigint;
  unitPrice: bigint;
  amount: bigint;
}

export interface Invoice {
  invoiceId: string;
  sessionId: string;
  payerUserId: string;
  payeeUserId: string;
  kind: SessionKind;
  currency: string;
  lines: InvoiceLine[];
  total: bigint;
  createdAt: Date;
}

export interface Refund {
  refundId: string;
  sessionId: string;
  payerUserId: string;
  currency: string;
  amount: bigint;
  reason: RefundReason;
  note: string;
  transactionId: string;
  createdAt: Date;
}

export interface Earnings {
  expertUserId: string;
  currency: string;
  balance: bigint;
  earned: bigint;
  refunded: bigint;
}

/** Who is calling, as far as idempotency keys are concerned: keys never collide across callers. */
export type IdempotencyScope = string;

export interface IdempotencyKey {
  scope: IdempotencyScope;
  key: string;
  /** A digest of the request parameters (without the key itself). */
  requestHash: string;
}

export type PaymentRefundStatus = "pending" | "processed" | "failed";

/** A refund of a top-up through its provider. */
export interface PaymentRefund {
  refundId: string;
  paymentId: string;
  currency: string;
  amount: bigint;
  status: PaymentRefundStatus;
  providerRefundId: string;
  createdAt: Date;
  updatedAt: Date;
}
