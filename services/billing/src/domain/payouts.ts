import { failedPrecondition, invalidArgument } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type Posting, posting, walletFrozen } from "./ledger";

export type PayoutMethod = "bank_account" | "upi";
export type KycStatus = "pending" | "verified" | "rejected";
export type PayoutStatus = "processing" | "paid" | "failed" | "reversed";

/** The details a payout is sent to; stored encrypted, never shown whole. */
export interface PayoutDetails {
  accountNumber: string;
  ifsc: string;
  upiId: string;
}

export interface PayoutAccount {
  expertUserId: string;
  method: PayoutMethod;
  holderName: string;
  masked: string;
  kycStatus: KycStatus;
  kycReason: string;
  updatedAt: Date;
}

export interface Payout {
  payoutId: string;
  expertUserId: string;
  currency: string;
  /** What left earnings: net + tds. */
  amount: bigint;
  tds: bigint;
  net: bigint;
  status: PayoutStatus;
  providerPayoutId: string;
  failureReason: string;
  automatic: boolean;
  /** Sends so far; the provider's idempotency key is the payout id, with the attempt after a failure. */
  attempt: number;
  createdAt: Date;
  updatedAt: Date;
}

/** A payout's move in the ledger and the payout row it leaves. */
export interface PayoutPlan {
  postings: Posting[];
  payout: Payout;
}

const IFSC = /^[A-Z]{4}0[A-Z0-9]{6}$/;
const ACCOUNT_NUMBER = /^\d{9,18}$/;
const UPI_ID = /^[a-zA-Z0-9._-]{2,256}@[a-zA-Z][a-zA-Z0-9]{2,64}$/;

/** The details checked for their method, and how they are shown: last four digits and IFSC, or a masked UPI id. */
export function payoutDetailsOf(
  method: PayoutMethod | undefined,
  input: { holderName: string; accountNumber: string; ifsc: string; upiId: string },
): { details: PayoutDetails; masked: string } {
  const violations: { field: string; description: string }[] = [];
  if (!method) violations.push({ field: "method", description: "bank account or UPI" });
  if (!input.holderName.trim()) violations.push({ field: "holder_name", description: "required" });
  const ifsc = input.ifsc.trim().toUpperCase();
  const accountNumber = input.accountNumber.replace(/\s/g, "");
  const upiId = input.upiId.trim();
  if (method === "bank_account") {
    if (!ACCOUNT_NUMBER.test(accountNumber))
      violations.push({ field: "account_number", description: "9 to 18 digits" });
    if (!IFSC.test(ifsc))
      violations.push({ field: "ifsc", description: "4 letters, 0, then 6 letters or digits" });
  }
  if (method === "upi" && !UPI_ID.test(upiId))
    violations.push({ field: "upi_id", description: "name@handle" });
  if (violations.length > 0)
    throw invalidArgument("VALIDATION_FAILED", "the payout account is not valid", {
      fieldViolations: violations,
    });
  if (method === "bank_account")
    return {
      details: { accountNumber, ifsc, upiId: "" },
      masked: `${"X".repeat(Math.max(accountNumber.length - 4, 0))}${accountNumber.slice(-4)} · ${ifsc}`,
    };
  const [name, handle] = upiId.split("@") as [string, string];
  return { details: { accountNumber: "", ifsc: "", upiId }, masked: `${name.slice(0, 2)}•••@${handle}` };
}

export interface WithdrawalContext {
  now: Date;
  /** Tax withheld on each payout, in basis points (TDS). */
  tdsBps: bigint;
  /** The smallest payout. */
  minPayout: bigint;
}

/** Withholding on an amount, rounded down (the expert never receives less than amount − rate). */
export const tdsOf = (amount: bigint, tdsBps: bigint) => (amount * tdsBps) / 10_000n;

/**
 * A withdrawal: only to a verified account, at least the minimum, at most the earnings balance
 * (which pending payouts have already left, so it is what is withdrawable); the amount moves from
 * earnings to payout clearing.
 */
export function planWithdrawal(
  snapshot: { account: PayoutAccount | undefined; earnings: bigint; frozen: boolean },
  input: { expertUserId: string; currency: string; amount: bigint; automatic: boolean },
  context: WithdrawalContext,
): PayoutPlan {
  // A frozen person is paid nothing out, whether they ask or staff retry (checked under the lock).
  if (snapshot.frozen) throw walletFrozen(input.expertUserId);
  if (!snapshot.account)
    throw failedPrecondition("PAYOUT_ACCOUNT_NOT_FOUND", "add a payout account before withdrawing");
  if (snapshot.account.kycStatus !== "verified")
    throw failedPrecondition(
      "KYC_NOT_VERIFIED",
      `the payout account's KYC is ${snapshot.account.kycStatus}`,
      {
        metadata: { kyc_status: snapshot.account.kycStatus },
      },
    );
  if (input.amount < context.minPayout)
    throw invalidArgument(
      "PAYOUT_BELOW_MINIMUM",
      `a payout is at least ${context.minPayout} ${input.currency}`,
      {
        metadata: { min_payout_minor: context.minPayout.toString() },
      },
    );
  if (input.amount > snapshot.earnings)
    throw failedPrecondition(
      "AMOUNT_EXCEEDS_WITHDRAWABLE",
      `at most ${snapshot.earnings} ${input.currency} may be withdrawn now`,
      { metadata: { withdrawable_minor: snapshot.earnings.toString(), currency: input.currency } },
    );
  const payoutId = newId();
  const tds = tdsOf(input.amount, context.tdsBps);
  const payout: Payout = {
    payoutId,
    expertUserId: input.expertUserId,
    currency: input.currency,
    amount: input.amount,
    tds,
    net: input.amount - tds,
    status: "processing",
    providerPayoutId: "",
    failureReason: "",
    automatic: input.automatic,
    attempt: 1,
    createdAt: context.now,
    updatedAt: context.now,
  };
  return { postings: [toClearing(payout)], payout };
}

const toClearing = (payout: Payout) =>
  posting({
    transactionId: newId(),
    type: "payout",
    currency: payout.currency,
    reference: `payout:${payout.payoutId}`,
    lines: [
      {
        account: { kind: "earnings", userId: payout.expertUserId },
        amount: -payout.amount,
        balanceAfter: null,
      },
      { account: { kind: "payout_clearing" }, amount: payout.amount, balanceAfter: null },
    ],
  });

/** A failed payout sent again: its amount taken from earnings again, if they still cover it. */
export function planRetry(
  payout: Payout,
  snapshot: { account: PayoutAccount | undefined; earnings: bigint; frozen: boolean },
  context: WithdrawalContext,
): PayoutPlan {
  planWithdrawal(snapshot, payout, { ...context, minPayout: 0n });
  const retried: Payout = {
    ...payout,
    status: "processing",
    providerPayoutId: "",
    failureReason: "",
    attempt: payout.attempt + 1,
    updatedAt: context.now,
  };
  return { postings: [toClearing(retried)], payout: retried };
}

/**
 * A payout attempt's reference at the rail, also its idempotency key there, so the rail's word
 * about each attempt names the attempt: the payout id, and from the second attempt (a retry after
 * a failure) its 32 hex digits, `_` and the attempt. RazorpayX takes keys of 4–36 letters, digits,
 * `-`, `_` or spaces.
 */
export const payoutReference = (payout: Pick<Payout, "payoutId" | "attempt">) =>
  payout.attempt === 1 ? payout.payoutId : `${payout.payoutId.replaceAll("-", "")}_${payout.attempt}`;

/** The payout and attempt a rail's reference names (`payoutReference`). */
export function parsePayoutReference(reference: string): { payoutId: string; attempt: number } {
  const match = /^([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})_([1-9]\d{0,2})$/.exec(
    reference,
  );
  return match
    ? { payoutId: match.slice(1, 6).join("-"), attempt: Number(match[6]) }
    : { payoutId: reference, attempt: 1 };
}

/**
 * What the provider's word does to a payout: paid moves payout clearing to paid-out (the net)
 * and TDS (the withholding); failed or reversed before being paid returns clearing to earnings;
 * reversed after being paid takes paid-out and TDS back to earnings. Anything else (a replay, a
 * word about a payout already settled that way, or about an earlier attempt of a payout retried
 * since) changes nothing.
 */
export function planPayoutOutcome(
  payout: Payout,
  outcome: {
    status: Exclude<PayoutStatus, "processing">;
    failureReason: string;
    providerPayoutId: string;
    /** The attempt the word is about, when known (a webhook's reference names it). */
    attempt?: number;
  },
  now: Date,
): PayoutPlan | undefined {
  // An earlier attempt's failure, redelivered after a retry, would return the money to earnings
  // while the new attempt pays it out.
  if (outcome.attempt !== undefined && outcome.attempt !== payout.attempt) return undefined;
  if (
    outcome.providerPayoutId &&
    payout.providerPayoutId &&
    outcome.providerPayoutId !== payout.providerPayoutId
  )
    return undefined;
  const from = payout.status;
  const to = outcome.status;
  const settled = (lines: Posting["lines"]): PayoutPlan => ({
    postings: [
      posting({
        transactionId: newId(),
        type: "payout",
        currency: payout.currency,
        reference: `payout:${payout.payoutId}`,
        lines,
      }),
    ],
    payout: {
      ...payout,
      status: to,
      failureReason: to === "paid" ? "" : outcome.failureReason,
      providerPayoutId: outcome.providerPayoutId || payout.providerPayoutId,
      updatedAt: now,
    },
  });
  const earnings = (amount: bigint) => ({
    account: { kind: "earnings" as const, userId: payout.expertUserId },
    amount,
    balanceAfter: null,
  });
  if (from === "processing" && to === "paid")
    return settled([
      { account: { kind: "payout_clearing" }, amount: -payout.amount, balanceAfter: null },
      { account: { kind: "paid_out" }, amount: payout.net, balanceAfter: null },
      { account: { kind: "tds" }, amount: payout.tds, balanceAfter: null },
    ]);
  if (from === "processing" && (to === "failed" || to === "reversed"))
    return settled([
      { account: { kind: "payout_clearing" }, amount: -payout.amount, balanceAfter: null },
      earnings(payout.amount),
    ]);
  if (from === "paid" && to === "reversed")
    return settled([
      { account: { kind: "paid_out" }, amount: -payout.net, balanceAfter: null },
      { account: { kind: "tds" }, amount: -payout.tds, balanceAfter: null },
      earnings(payout.amount),
    ]);
  return undefined;
}
