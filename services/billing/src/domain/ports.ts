import type { ChargeItem, ChargePlan, ChargeReceipt, ChargeSnapshot } from "./charges";
import type { InvoiceRecord } from "./invoices";
import type { WalletPlan } from "./ledger";
import type {
  AccountEntry,
  Earnings,
  Hold,
  IdempotencyKey,
  Payment,
  PaymentFinding,
  PaymentFindingKind,
  PaymentRefund,
  PaymentStatus,
  UserAccountKind,
  WalletChanges,
  WalletSnapshot,
} from "./model";
import type { PaymentDecision } from "./payments";
import type {
  KycStatus,
  Payout,
  PayoutAccount,
  PayoutDetails,
  PayoutMethod,
  PayoutPlan,
  PayoutStatus,
} from "./payouts";
import type { RefundPlan, RefundSnapshot } from "./refunds";

/**
 * Billing's storage, by aggregate (implemented in persistence/ over Postgres). Every money move
 * is one database transaction: the store locks and reads a snapshot, hands it to the domain's
 * plan (a pure function that returns what to do or throws a domain error, which rolls back),
 * and applies the plan. Moves taking an IdempotencyKey return the first answer for a repeated
 * key with the same request digest.
 */
export interface WalletStore {
  /** A wallet and its open holds, read without locks in one snapshot; an unknown wallet reads empty. */
  read(userId: string, currency: string): Promise<WalletSnapshot>;
  entries(input: {
    userId: string;
    kind: UserAccountKind;
    currency: string;
    beforeEntryId: bigint | undefined;
    limit: number;
  }): Promise<AccountEntry[]>;
  /** The wallet locked (created when missing), then the plan. */
  credit<T>(
    key: IdempotencyKey,
    target: { userId: string; currency: string; now: Date },
    plan: (wallet: WalletSnapshot) => WalletPlan<T>,
  ): Promise<T>;
}

export interface HoldStore {
  /** The wallet locked (never created), then the plan. */
  place(
    key: IdempotencyKey,
    target: { userId: string; currency: string; now: Date },
    plan: (wallet: WalletSnapshot) => WalletPlan<Hold>,
  ): Promise<Hold>;
  /** The hold's wallet locked, then the plan; NOT_FOUND HOLD_NOT_FOUND for an unknown hold. */
  change<T>(
    key: IdempotencyKey,
    target: { holdId: string; now: Date },
    plan: (wallet: WalletSnapshot) => WalletPlan<T>,
  ): Promise<T>;
  /** Locks wallets that have holds open past `now` (some at a time) and applies what the plan makes of them. */
  expireOverdue(now: Date, plan: (wallets: WalletSnapshot[]) => WalletChanges[]): Promise<number>;
}

export interface ChargeStore {
  /**
   * Charges a plain minute in one round trip, in one autocommit statement (which concurrent
   * calls may share): a new minute of a session that is not settled, on a wallet with no hold
   * past its expiry, naming no hold that is still open — the case where planCharges pays the
   * whole minute from what is available, or refuses it for funds. Applied only if the
   * database's own checks agree (the minute's key is new, `held ≤ balance` after paying, the
   * session has no invoice); returns the receipt, or undefined (nothing written) whenever the
   * minute is anything else, for planCharges to decide.
   */
  chargePlain(item: ChargeItem, transactionId: string, now: Date): Promise<ChargeReceipt | undefined>;
  /**
   * A batch's plain minutes (each key at most once) in one statement of their own, on the same
   * terms as chargePlain; for each wallet, only the leading run of its minutes in planCharges'
   * order that are plain and that its available balance pays in full. Returns, per item, its
   * receipt, or undefined (nothing written) for planCharges to decide after the ones charged.
   */
  chargePlainBatch(
    items: readonly { item: ChargeItem; transactionId: string }[],
    now: Date,
  ): Promise<(ChargeReceipt | undefined)[]>;
  /** The items' wallets locked in id order and their keys read, then the plan, applied in bulk. */
  chargeBatch(
    items: readonly ChargeItem[],
    now: Date,
    plan: (snapshot: ChargeSnapshot) => ChargePlan,
  ): Promise<ChargePlan>;
}

export interface PaymentStore {
  /** Creates a pending payment once `check` accepts the wallet it would credit (read without a lock). */
  create(key: IdempotencyKey, payment: Payment, check: (wallet: WalletSnapshot) => void): Promise<Payment>;
  get(paymentId: string): Promise<Payment | undefined>;
  /**
   * Records the provider's side of a payment created as `parley_<id>`; the first checkout
   * attached wins (a concurrent retry's own order stays unused) and the payment is returned.
   */
  attach(paymentId: string, checkout: Checkout): Promise<Payment>;
  /**
   * Records a finding about the payment this provider payment belongs to (by provider payment
   * id, by our reference, or as a second capture of it already found), once per (payment, kind,
   * provider payment, provider refund); false when known.
   * NOT_FOUND PAYMENT_NOT_FOUND when no payment matches.
   */
  recordFinding(finding: {
    provider: string;
    providerPaymentId: string;
    providerReference: string;
    /** The provider's refund a `provider_refund` or `refund_unknown` finding is about (empty for others). */
    providerRefundId?: string;
    kind: PaymentFindingKind;
    amount: bigint;
    currency: string;
    now: Date;
  }): Promise<{ payment: Payment; recorded: boolean }>;
  findings(paymentId: string): Promise<PaymentFinding[]>;
  /** Findings of every payment (of one kind, when given), newest first, before a finding id. */
  listFindings(input: {
    kind: PaymentFindingKind | undefined;
    beforeFindingId: string | undefined;
    limit: number;
  }): Promise<PaymentFinding[]>;
  /**
   * The payment locked and its refunds (not failed) summed, then its wallet locked and the plan
   * applied, under the key. NOT_FOUND PAYMENT_NOT_FOUND.
   */
  refund(
    key: IdempotencyKey,
    target: { paymentId: string; now: Date },
    plan: (wallet: WalletSnapshot, payment: Payment, refunded: bigint) => WalletPlan<PaymentRefund>,
  ): Promise<PaymentRefund>;
  /** Records the provider's id of a sent refund (the first one recorded stays). */
  refundSent(refundId: string, providerRefundId: string, now: Date): Promise<PaymentRefund>;
  getRefund(refundId: string): Promise<PaymentRefund | undefined>;
  /**
   * The refund locked, its payment's wallet locked, then the plan (undefined: nothing changes);
   * the provider's id is recorded when it was not. NOT_FOUND REFUND_NOT_FOUND.
   */
  settleRefund(
    target: { refundId: string; providerRefundId: string; now: Date },
    plan: (wallet: WalletSnapshot, refund: PaymentRefund) => WalletPlan<PaymentRefund> | undefined,
  ): Promise<{ refund: PaymentRefund; changed: boolean }>;
  /** Payments still pending, created before the claim's `before`. */
  claimDue(claim: DueClaim): Promise<Payment[]>;
  /** Top-up refunds still pending, made before the claim's `before`, each with the payment it refunds. */
  claimDueRefunds(claim: DueClaim): Promise<{ refund: PaymentRefund; payment: Payment }[]>;
  /**
   * Applies one provider event: the payment locked, the event id recorded once, `decide` told
   * whether it is new; a credit locks the wallet (created when missing) and applies `credit`'s
   * plan, or records the failure reason it returns. NOT_FOUND PAYMENT_NOT_FOUND when no payment
   * of this provider matches.
   */
  confirm(
    event: {
      provider: string;
      providerEventId: string;
      providerPaymentId: string;
      paymentId: string;
      providerReference: string;
      status: PaymentStatus;
      now: Date;
    },
    decide: (payment: Payment, firstTime: boolean) => PaymentDecision,
    credit: (
      wallet: WalletSnapshot,
      payment: Payment,
    ) => WalletPlan<{ transactionId: string } | { failureReason: string }>,
  ): Promise<{ payment: Payment; credited: boolean; duplicate: boolean }>;
}

/**
 * A reconciliation round's claim: up to `limit` rows still unsettled since before `before` and due
 * a check at `now` (oldest first, skipping rows another instance holds), each not due again
 * before `nextCheckAt`, so instances share the work and a failed check is retried later.
 */
export interface DueClaim {
  before: Date;
  now: Date;
  nextCheckAt: Date;
  limit: number;
}

/** What an app needs to complete a top-up with its provider. */
export interface Checkout {
  providerReference: string;
  /** Stripe's PaymentIntent client secret; empty for other providers. */
  clientSecret: string;
}

/** A provider's payment as the provider reports it (webhook, client-side proof or a fetch). */
export interface ProviderPayment {
  /** Our reference the provider knows the payment by (Razorpay order id, Stripe PaymentIntent id). */
  providerReference: string;
  /** The provider's id of the money movement (Razorpay payment id, Stripe PaymentIntent id). */
  providerPaymentId: string;
  status: "pending" | "succeeded" | "failed" | "cancelled";
  amount: bigint;
  currency: string;
}

/** A verified provider webhook, mapped to what billing does with it. */
export type ProviderEvent = { eventId: string } & (
  | { kind: "payment"; payment: ProviderPayment }
  | { kind: "dispute"; providerPaymentId: string; amount: bigint; currency: string }
  | {
      kind: "refund";
      /** Ours, echoed in the provider's notes or metadata; empty when the provider started it. */
      refundId: string;
      providerRefundId: string;
      status: "pending" | "processed" | "failed";
      /** The provider payment refunded, and how much of it. */
      providerPaymentId: string;
      amount: bigint;
      currency: string;
    }
  | { kind: "ignored"; type: string }
);

/**
 * One payment provider behind billing (Stripe, Razorpay, the development provider): the port
 * its adapter implements (src/providers/). Calls that create things are idempotent by our id.
 */
export interface PaymentProvider {
  readonly name: string;
  /** Creates the provider's side of a top-up (idempotent by paymentId). */
  createPayment(input: { paymentId: string; amount: bigint; currency: string }): Promise<Checkout>;
  /** Verifies a webhook in the provider's own format and maps it; throws SIGNATURE_INVALID / SIGNATURE_STALE. */
  parseWebhook(payload: Buffer, headers: Readonly<Record<string, string>>): ProviderEvent;
  /** Checks a client-side proof of payment (Razorpay checkout); undefined where the provider has none. */
  verifyCheckout?(input: {
    providerReference: string;
    providerPaymentId: string;
    signature: string;
  }): boolean;
  /** Refunds a provider payment to its original method (idempotent by refundId). */
  refund(input: {
    refundId: string;
    providerPaymentId: string;
    amount: bigint;
  }): Promise<{ providerRefundId: string; status: "pending" | "processed" | "failed" }>;
  /**
   * What the provider says of one of our refunds of a provider payment: by the id it gave, or,
   * when its answer to the send was lost, by our id in the refund's metadata or notes; undefined
   * when it knows none.
   */
  findRefund(input: {
    refundId: string;
    providerRefundId: string;
    providerPaymentId: string;
  }): Promise<{ providerRefundId: string; status: "pending" | "processed" | "failed" } | undefined>;
  /** Reads one provider payment by its id. */
  fetchPayment(providerPaymentId: string): Promise<ProviderPayment>;
  /** The provider's payments for one of our references (every attempt on a Razorpay order). */
  paymentsOf(providerReference: string): Promise<ProviderPayment[]>;
}

/** A verified payout provider webhook, mapped. */
export type PayoutEvent = { eventId: string } & (
  | {
      kind: "payout";
      providerPayoutId: string;
      /** The attempt's reference we gave (`payoutReference`), echoed by the provider. */
      reference: string;
      status: Exclude<PayoutStatus, "processing">;
      failureReason: string;
    }
  | {
      kind: "kyc";
      expertUserId: string;
      status: "verified" | "rejected";
      reason: string;
      /** When the provider made the validation (whole seconds). */
      validatedAt: Date;
    }
  | { kind: "ignored"; type: string }
);

/** The rail experts are paid through (RazorpayX payouts; the development rail pays at once). */
export interface PayoutProvider {
  readonly name: string;
  /**
   * Sends a payout attempt of `amount`, idempotent by its `reference` (`payoutReference`); the
   * provider's id and what it says now.
   */
  createPayout(input: {
    reference: string;
    expertUserId: string;
    amount: bigint;
    currency: string;
    method: PayoutMethod;
    holderName: string;
    details: PayoutDetails;
  }): Promise<{ providerPayoutId: string; status: PayoutStatus; failureReason: string }>;
  /**
   * What the rail says of a payout attempt now: by its id there, or (a send whose answer was lost)
   * by its reference; undefined when the rail has no such payout.
   */
  findPayout(input: {
    providerPayoutId: string;
    reference: string;
  }): Promise<{ providerPayoutId: string; status: PayoutStatus; failureReason: string } | undefined>;
  /** Verifies a webhook in the provider's format and maps it; throws SIGNATURE_INVALID. */
  parseWebhook(payload: Buffer, headers: Readonly<Record<string, string>>): PayoutEvent;
}

/** What a payout move plans against: the expert's payout account and earnings balance, both locked. */
export interface PayoutSnapshot {
  account: PayoutAccount | undefined;
  earnings: bigint;
  /** Whether the expert's wallets are frozen, read after the earnings row is locked. */
  frozen: boolean;
}

export interface PayoutStore {
  /** Stores the account (details encrypted), KYC back to pending. */
  setAccount(account: PayoutAccount, details: PayoutDetails): Promise<PayoutAccount>;
  getAccount(expertUserId: string): Promise<PayoutAccount | undefined>;
  /**
   * Where a payout goes, decrypted: the account as verified when it was taken or retried. One
   * taken before payouts kept it is bound now to the account if verified (else undefined: not
   * sent until it is).
   */
  destination(payout: {
    payoutId: string;
    expertUserId: string;
  }): Promise<{ method: PayoutMethod; holderName: string; details: PayoutDetails } | undefined>;
  /**
   * Sets the account's KYC; undefined when there is no account or, given `validatedAt` (a
   * provider's validation), when the account changed after it (new details, or staff's decision):
   * the validation was of what was there before.
   */
  setKyc(input: {
    expertUserId: string;
    status: KycStatus;
    reason: string;
    now: Date;
    validatedAt?: Date;
  }): Promise<PayoutAccount | undefined>;
  /**
   * The payout account read, then the expert's earnings row locked (`FOR UPDATE`, so racing
   * withdrawals queue and each sees what the other left), the plan applied and the payout stored.
   */
  withdraw(
    key: IdempotencyKey,
    target: { expertUserId: string; currency: string; now: Date },
    plan: (snapshot: PayoutSnapshot) => PayoutPlan,
  ): Promise<Payout>;
  /** The payout locked, then as `withdraw` for a retry. NOT_FOUND PAYOUT_NOT_FOUND. */
  retry(
    payoutId: string,
    now: Date,
    plan: (payout: Payout, snapshot: PayoutSnapshot) => PayoutPlan,
  ): Promise<Payout>;
  /**
   * Records the provider's id of a payout attempt sent, unless the payout has one already or has
   * moved on to another attempt meanwhile (a retry); returns the payout as it is.
   */
  sent(target: { payoutId: string; attempt: number }, providerPayoutId: string, now: Date): Promise<Payout>;
  /** The payout locked (by our id or the provider's), then the plan (undefined: nothing changes). NOT_FOUND PAYOUT_NOT_FOUND. */
  settle(
    target: { payoutId: string; providerPayoutId: string; now: Date },
    plan: (payout: Payout) => PayoutPlan | undefined,
  ): Promise<{ payout: Payout; changed: boolean }>;
  get(payoutId: string): Promise<Payout | undefined>;
  list(input: {
    expertUserId: string | undefined;
    status: PayoutStatus | undefined;
    beforePayoutId: string | undefined;
    limit: number;
  }): Promise<Payout[]>;
  /** What the expert's payouts still processing hold. */
  pendingTotal(expertUserId: string, currency: string): Promise<bigint>;
  /** Payouts still processing, unchanged since before the claim's `before`. */
  claimDue(claim: DueClaim): Promise<Payout[]>;
  /**
   * Verified experts whose earnings are at least `threshold`, with their earnings: not frozen,
   * and with no automatic payout in that currency since `since` (this period's are done), so
   * the first `limit` are never the same ones again and again.
   */
  dueAutomatic(input: {
    currency: string;
    threshold: bigint;
    since: Date;
    limit: number;
  }): Promise<{ expertUserId: string; earnings: bigint }[]>;
}

export interface RefundStore {
  /** The session's payer wallet and payee earnings locked, its totals read, then the plan. */
  refund(
    key: IdempotencyKey,
    target: { sessionId: string; now: Date },
    plan: (snapshot: RefundSnapshot) => RefundPlan,
  ): Promise<RefundPlan["result"]>;
}

export interface InvoiceStore {
  /**
   * Claims the session's invoice (one per session: a repeat returns the stored record, for the
   * domain to compare), locks the payer's wallet, applies the settlement plan and counts the
   * session's minutes into the invoice.
   */
  settle(
    invoice: Omit<InvoiceRecord, "invoiceId" | "minutes" | "charged" | "createdAt"> & {
      holdId: string;
      now: Date;
    },
    plan: (wallet: WalletSnapshot) => WalletChanges | undefined,
  ): Promise<{ record: InvoiceRecord; refunds: { amount: bigint; reason: string }[]; created: boolean }>;
  list(input: {
    userId: string;
    beforeInvoiceId: string | undefined;
    limit: number;
  }): Promise<{ record: InvoiceRecord; refunds: { amount: bigint; reason: string }[] }[]>;
  get(
    invoiceId: string,
  ): Promise<{ record: InvoiceRecord; refunds: { amount: bigint; reason: string }[] } | undefined>;
}

export interface EarningsStore {
  read(expertUserId: string, currency: string): Promise<Earnings>;
}

export interface LedgerStore {
  wallets: WalletStore;
  holds: HoldStore;
  charges: ChargeStore;
  payments: PaymentStore;
  refunds: RefundStore;
  invoices: InvoiceStore;
  earnings: EarningsStore;
  payouts: PayoutStore;
  freezes: FreezeStore;
}

/** Staff freezes of a person's wallets (the back office, through auth). */
export interface FreezeStore {
  /**
   * Freezes (or unfreezes) every wallet of a person, each currency in `currencies` included
   * (created empty when absent, so a later top-up lands in a frozen wallet), under the wallets'
   * row locks: a charge that locked a wallet first is done before, any later one sees the freeze.
   * Says whether any was frozen before.
   */
  setFrozen(
    userId: string,
    frozen: boolean,
    currencies: readonly string[],
    now: Date,
  ): Promise<{ wasFrozen: boolean }>;
  isFrozen(userId: string): Promise<boolean>;
  /** What of a person's money is still in motion. */
  pending(userId: string): Promise<{ openHolds: number; pendingPayments: number; payoutsInFlight: number }>;
}
