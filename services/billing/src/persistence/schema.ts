import { outboxTable } from "@parley/kit/outbox";
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  char,
  check,
  customType,
  index,
  integer,
  pgSchema,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { PAYMENT_FINDING_KINDS } from "../domain/model";

export const billing = pgSchema("billing");

const money = (name: string) => bigint(name, { mode: "bigint" });
const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * Ledger accounts. Wallet and earnings accounts keep a running `balance` (updated under a
 * row lock in the transaction that posts); platform accounts (revenue, clearing,
 * promotions) never do: their balance is the sum of their entries, so concurrent charges
 * never queue on one shared row. A wallet's `held` is what its holds stored as open still
 * reserve (a deferred trigger keeps it equal to them); it never exceeds the balance (CHECK).
 * Accounts are never deleted nor re-keyed (trigger), so entries may name them without a
 * foreign key.
 */
export const accounts = billing.table(
  "accounts",
  {
    id: uuid("id").primaryKey(),
    kind: text("kind", {
      enum: ["wallet", "earnings", "revenue", "clearing", "promotions", "payout_clearing", "paid_out", "tds"],
    }).notNull(),
    ownerId: text("owner_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    balance: money("balance").notNull().default(sql`0`),
    held: money("held").notNull().default(sql`0`),
    createdAt: at("created_at").notNull().defaultNow(),
    /** Set on a person's wallets while staff freeze them: no charge, hold, capture or refund out. */
    frozenAt: at("frozen_at"),
  },
  (table) => [
    uniqueIndex("accounts_owner_unique").on(table.kind, table.ownerId, table.currency),
    check(
      "accounts_user_balance_non_negative",
      sql`${table.kind} not in ('wallet', 'earnings') or ${table.balance} >= 0`,
    ),
    check(
      "accounts_held_within_balance",
      sql`${table.held} >= 0 and ${table.held} <= ${table.balance} and (${table.kind} = 'wallet' or ${table.held} = 0)`,
    ),
  ],
);

/** One posting; its entries sum to zero per currency. Append-only (trigger). */
export const transactions = billing.table("transactions", {
  id: uuid("id").primaryKey(),
  type: text("type", {
    enum: ["top_up", "session_charge", "hold_capture", "refund", "promotion", "payout", "top_up_refund"],
  }).notNull(),
  currency: char("currency", { length: 3 }).notNull(),
  reference: text("reference").notNull(),
  createdAt: at("created_at").notNull().defaultNow(),
});

/**
 * Ledger entries: signed amounts; balance_after only on accounts that keep a balance. Append-only
 * (trigger). Their references are checked once per statement by a trigger rather than by foreign
 * keys (one lookup per row each, the largest cost of a bulk charge): each entry names an existing
 * account and a journal transaction inserted by the same database transaction, whose entries a
 * deferred trigger then requires to sum to zero at commit.
 */
export const entries = billing.table(
  "entries",
  {
    id: bigint("id", { mode: "bigint" }).notNull().generatedAlwaysAsIdentity(),
    transactionId: uuid("transaction_id").notNull(),
    accountId: uuid("account_id").notNull(),
    amount: money("amount").notNull(),
    balanceAfter: money("balance_after"),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    // Keyed by journal transaction first: the balance checks read a transaction's entries by it.
    primaryKey({ name: "entries_pkey", columns: [table.transactionId, table.id] }),
    index("entries_account_newest").on(table.accountId, table.id.desc()),
  ],
);

/** Reservations on a wallet: available = balance − remaining of open, unexpired holds. */
export const holds = billing.table(
  "holds",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id),
    userId: text("user_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    captured: money("captured").notNull().default(sql`0`),
    status: text("status", { enum: ["open", "captured", "released", "expired"] }).notNull(),
    reference: text("reference").notNull(),
    expiresAt: at("expires_at").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
    resolvedAt: at("resolved_at"),
  },
  (table) => [
    index("holds_open_by_account").on(table.accountId).where(sql`${table.status} = 'open'`),
    index("holds_open_by_expiry").on(table.expiresAt).where(sql`${table.status} = 'open'`),
    check(
      "holds_captured_within_amount",
      sql`${table.captured} >= 0 and ${table.captured} <= ${table.amount}`,
    ),
  ],
);

/**
 * Idempotency keys, scoped to the caller. The key row is inserted first in the money
 * transaction (a concurrent duplicate waits on it) and carries the original response.
 */
export const idempotencyKeys = billing.table(
  "idempotency_keys",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    response: text("response"),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.scope, table.key] })],
);

/**
 * Per-minute session charges, keyed by (session_id, minute): a row is the minute's
 * idempotency key and keeps its receipt: the request digest and the answer a retry gets back.
 * Append-only (trigger). A statement trigger checks each names a journal transaction of its
 * own database transaction and refuses minutes of a settled (invoiced) session.
 */
export const charges = billing.table(
  "charges",
  {
    transactionId: uuid("transaction_id").notNull(),
    sessionId: text("session_id").notNull(),
    minute: bigint("minute", { mode: "bigint" }).notNull(),
    payerUserId: text("payer_user_id").notNull(),
    payeeUserId: text("payee_user_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    commission: money("commission").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
    requestHash: text("request_hash").notNull(),
    balanceAfter: money("balance_after").notNull(),
    availableAfter: money("available_after").notNull(),
    /** What the session's hold still reserved after this minute. */
    holdRemainingAfter: money("hold_remaining_after").notNull(),
  },
  (table) => [primaryKey({ name: "charges_session_minute", columns: [table.sessionId, table.minute] })],
);

export const payments = billing.table(
  "payments",
  {
    id: uuid("id").primaryKey(),
    userId: text("user_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    status: text("status", { enum: ["pending", "succeeded", "failed", "cancelled", "expired"] }).notNull(),
    provider: text("provider").notNull(),
    providerReference: text("provider_reference").notNull(),
    providerPaymentId: text("provider_payment_id"),
    /** Why the payment failed on our side (a credit past a bound); the provider's failures leave it null. */
    failureReason: text("failure_reason"),
    creditTransactionId: uuid("credit_transaction_id").references(() => transactions.id),
    /** Stripe's PaymentIntent client secret, returned to the payer's app on a retried CreateTopUp. */
    clientSecret: text("client_secret"),
    /** When reconciliation may check this pending payment again (null: as soon as it is old enough). */
    nextCheckAt: at("next_check_at"),
    createdAt: at("created_at").notNull().defaultNow(),
    updatedAt: at("updated_at").notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("payments_provider_reference").on(table.provider, table.providerReference),
    /** Reconciliation's queue: pending payments, oldest first. */
    index("payments_pending_oldest").on(table.createdAt, table.id).where(sql`status = 'pending'`),
  ],
);

/**
 * What was found about a payment that a person acts on or audits: a second capture upstream
 * (to refund, never credited), a dispute, what reconciliation settled. Once per (payment, kind,
 * provider payment).
 */
export const paymentFindings = billing.table(
  "payment_findings",
  {
    id: uuid("id").primaryKey(),
    paymentId: uuid("payment_id")
      .notNull()
      .references(() => payments.id),
    kind: text("kind", { enum: PAYMENT_FINDING_KINDS }).notNull(),
    providerPaymentId: text("provider_payment_id").notNull(),
    /** The provider's refund a `provider_refund` or `refund_unknown` finding is about ('' for others). */
    providerRefundId: text("provider_refund_id").notNull().default(""),
    amount: money("amount").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("payment_findings_once").on(
      table.paymentId,
      table.kind,
      table.providerPaymentId,
      table.providerRefundId,
    ),
  ],
);

/** Every provider event applied, once: replays of an event id are recognised. */
export const paymentEvents = billing.table(
  "payment_events",
  {
    provider: text("provider").notNull(),
    providerEventId: text("provider_event_id").notNull(),
    paymentId: uuid("payment_id")
      .notNull()
      .references(() => payments.id),
    status: text("status").notNull(),
    receivedAt: at("received_at").notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.provider, table.providerEventId] })],
);

export const refunds = billing.table(
  "refunds",
  {
    id: uuid("id").primaryKey(),
    sessionId: text("session_id").notNull(),
    payerUserId: text("payer_user_id").notNull(),
    payeeUserId: text("payee_user_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    earningsReversed: money("earnings_reversed").notNull(),
    commissionReversed: money("commission_reversed").notNull(),
    reason: text("reason").notNull(),
    note: text("note").notNull(),
    transactionId: uuid("transaction_id")
      .notNull()
      .references(() => transactions.id),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [index("refunds_session").on(table.sessionId)],
);

/** One per settled session; refund lines are added from `refunds` when read. */
export const invoices = billing.table(
  "invoices",
  {
    id: uuid("id").primaryKey(),
    sessionId: text("session_id").notNull(),
    payerUserId: text("payer_user_id").notNull(),
    payeeUserId: text("payee_user_id").notNull(),
    kind: text("kind", { enum: ["chat", "call"] }).notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    rate: money("rate").notNull(),
    minutes: integer("minutes").notNull(),
    charged: money("charged").notNull(),
    settleHash: text("settle_hash").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("invoices_session").on(table.sessionId),
    index("invoices_payer_newest").on(table.payerUserId, table.id.desc()),
    index("invoices_payee_newest").on(table.payeeUserId, table.id.desc()),
  ],
);

/** Notification intents (top-up credited, refund issued), written in the transaction of the change. */
export const notificationOutbox = outboxTable(billing, "notification_outbox");

/** Refunds of top-ups through their provider: the amount left the wallet when requested. */
export const paymentRefunds = billing.table(
  "payment_refunds",
  {
    id: uuid("id").primaryKey(),
    paymentId: uuid("payment_id")
      .notNull()
      .references(() => payments.id),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    status: text("status", { enum: ["pending", "processed", "failed"] }).notNull(),
    providerRefundId: text("provider_refund_id"),
    createdAt: at("created_at").notNull().defaultNow(),
    updatedAt: at("updated_at").notNull().defaultNow(),
    /** When reconciliation may ask the provider about this pending refund again. */
    nextCheckAt: at("next_check_at"),
  },
  (table) => [
    index("payment_refunds_payment").on(table.paymentId),
    uniqueIndex("payment_refunds_provider").on(table.providerRefundId),
    index("payment_refunds_pending_since").on(table.createdAt).where(sql`${table.status} = 'pending'`),
  ],
);

const bytea = customType<{ data: Buffer }>({ dataType: () => "bytea" });

/**
 * An expert's payout account: the details (bank account + IFSC, or UPI id) sealed with
 * AES-256-GCM under PAYOUT_ENCRYPTION_KEY (nonce ‖ tag ‖ ciphertext, bound to the expert's id),
 * and the masked form shown from then on; KYC status with a rejection's reason.
 */
export const payoutAccounts = billing.table("payout_accounts", {
  expertUserId: text("expert_user_id").primaryKey(),
  method: text("method", { enum: ["bank_account", "upi"] }).notNull(),
  holderName: text("holder_name").notNull(),
  sealedDetails: bytea("sealed_details").notNull(),
  masked: text("masked").notNull(),
  kycStatus: text("kyc_status", { enum: ["pending", "verified", "rejected"] }).notNull(),
  kycReason: text("kyc_reason"),
  createdAt: at("created_at").notNull().defaultNow(),
  updatedAt: at("updated_at").notNull().defaultNow(),
});

/**
 * Withdrawals of earnings: `amount` left earnings for payout clearing when requested; paid moves
 * it to paid-out (`net`) and TDS (`tds`), failed or reversed back to earnings.
 */
export const payouts = billing.table(
  "payouts",
  {
    id: uuid("id").primaryKey(),
    expertUserId: text("expert_user_id").notNull(),
    currency: char("currency", { length: 3 }).notNull(),
    amount: money("amount").notNull(),
    tds: money("tds").notNull(),
    net: money("net").notNull(),
    status: text("status", { enum: ["processing", "paid", "failed", "reversed"] }).notNull(),
    providerPayoutId: text("provider_payout_id"),
    failureReason: text("failure_reason"),
    automatic: boolean("automatic").notNull().default(false),
    attempt: integer("attempt").notNull().default(1),
    createdAt: at("created_at").notNull().defaultNow(),
    updatedAt: at("updated_at").notNull().defaultNow(),
    /** When payout reconciliation may ask the rail about a processing payout again. */
    nextCheckAt: at("next_check_at"),
    /**
     * Where it is sent: the payout account as verified when the payout was taken (or retried),
     * copied sealed, so details changed after it (KYC pending again) never receive it.
     */
    method: text("method", { enum: ["bank_account", "upi"] }),
    holderName: text("holder_name"),
    sealedDetails: bytea("sealed_details"),
  },
  (table) => [
    check(
      "payouts_amounts",
      sql`${table.tds} >= 0 and ${table.net} > 0 and ${table.amount} = ${table.net} + ${table.tds}`,
    ),
    index("payouts_expert_newest").on(table.expertUserId, table.id.desc()),
    index("payouts_status_newest").on(table.status, table.id.desc()),
    index("payouts_processing_since").on(table.updatedAt).where(sql`${table.status} = 'processing'`),
    uniqueIndex("payouts_provider_payout").on(table.providerPayoutId),
  ],
);

export const schema = {
  accounts,
  transactions,
  entries,
  holds,
  idempotencyKeys,
  charges,
  payments,
  paymentEvents,
  paymentFindings,
  refunds,
  invoices,
  paymentRefunds,
  payoutAccounts,
  payouts,
};
