import type { ChargeItem, ChargePlan, ChargeSnapshot } from "./charges";
import type {
  AccountEntry,
  Earnings,
  Hold,
  IdempotencyKey,
  Invoice,
  Payment,
  PaymentStatus,
  Refund,
  RefundReason,
  SessionKind,
  UserAccountKind,
} from "./model";

/**
 * What the use cases need from storage. Each money move is atomic and, where it takes an
 * IdempotencyKey, returns the original result for a repeated key with the same request hash.
 */
export interface LedgerPort {
  walletBalances(userId: string, currency: string, now: Date): Promise<{ balance: bigint; held: bigint }>;
  listEntries(input: {
    userId: string;
    kind: UserAccountKind;
    currency: string;
    beforeEntryId: bigint | undefined;
    limit: number;
  }): Promise<AccountEntry[]>;
  createTopUp(
    key: IdempotencyKey,
    input: { userId: string; currency: string; amount: bigint; provider: string; now: Date },
  ): Promise<Payment>;
  confirmPayment(input: {
    provider: string;
    providerEventId: string;
    providerPaymentId: string;
    paymentId: string;
    providerReference: string;
    status: PaymentStatus;
    amount: bigint;
    currency: string;
    now: Date;
  }): Promise<{ payment: Payment; credited: boolean }>;
  grantCredit(
    key: IdempotencyKey,
    input: { userId: string; currency: string; amount: bigint; now: Date },
  ): Promise<{ transactionId: string; balance: bigint }>;
  placeHold(
    key: IdempotencyKey,
    input: {
      userId: string;
      currency: string;
      amount: bigint;
      reference: string;
      expiresAt: Date;
      now: Date;
    },
  ): Promise<Hold>;
  extendHold(key: IdempotencyKey, input: { holdId: string; expiresAt: Date; now: Date }): Promise<Hold>;
  captureHold(
    key: IdempotencyKey,
    input: { holdId: string; amount: bigint; commission: bigint; payeeUserId: string; now: Date },
  ): Promise<{ hold: Hold; transactionId: string }>;
  releaseHold(key: IdempotencyKey, input: { holdId: string; now: Date }): Promise<Hold>;
  /** Runs the charge plan over a locked snapshot of the items' wallets and keys, and applies it. */
  chargeBatch(
    items: readonly ChargeItem[],
    now: Date,
    plan: (snapshot: ChargeSnapshot) => ChargePlan,
  ): Promise<ChargePlan>;
  refund(
    key: IdempotencyKey,
    input: {
      sessionId: string;
      /** The whole refundable rest when absent; in the session's currency when given. */
      amount: { minor: bigint; currency: string } | undefined;
      reason: RefundReason;
      note: string;
      now: Date;
      share: (refund: bigint, part: bigint, whole: bigint) => bigint;
    },
  ): Promise<Refund>;
  settleSession(input: {
    sessionId: string;
    payerUserId: string;
    payeeUserId: string;
    holdId: string;
    rate: bigint;
    currency: string;
    kind: SessionKind;
    settleHash: string;
    now: Date;
  }): Promise<Invoice>;
  listInvoices(input: {
    userId: string;
    beforeInvoiceId: string | undefined;
    limit: number;
  }): Promise<Invoice[]>;
  getInvoice(invoiceId: string): Promise<Invoice | undefined>;
  earnings(expertUserId: string, currency: string): Promise<Earnings>;
  expireHolds(now: Date): Promise<number>;
}
