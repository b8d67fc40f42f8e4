import { hash } from "node:crypto";

/** The largest amount a Postgres bigint (and a proto int64) holds: 2^63 − 1. */
export const INT64_MAX = 2n ** 63n - 1n;

/** Basis points in a whole: 10_000 bps = 100 %. */
export const BPS_SCALE = 10_000n;

/**
 * The platform's share of an amount, rounded down so the expert never loses a minor unit
 * to rounding; the expert gets the rest. Both parts always add up to the amount.
 */
export function splitCommission(
  amount: bigint,
  commissionBps: bigint,
): { commission: bigint; earnings: bigint } {
  const commission = (amount * commissionBps) / BPS_SCALE;
  return { commission, earnings: amount - commission };
}

export const minBigint = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** Whole minutes `funds` pays at `rate` per minute (0 for a non-positive rate or funds). */
export function minutesPayable(funds: bigint, rate: bigint): bigint {
  if (rate <= 0n || funds <= 0n) return 0n;
  return funds / rate;
}

/**
 * A share of a refund proportional to what is left to reverse, rounded down; the remainder
 * of the refund goes to the other side so the parts add up exactly.
 */
export function proportionalShare(refund: bigint, part: bigint, whole: bigint): bigint {
  if (whole === 0n) return 0n;
  return (refund * part) / whole;
}

/** One-shot SHA-256 (crypto.hash: a third of createHash().update().digest()'s cost per call). */
const digest = (canonical: string) => hash("sha256", canonical, "base64url");

/**
 * hashRequest of a charge's parameters, built without the generic walk (it runs for every minute
 * of every batch): the same canonical JSON (keys in hashRequest's order, bigints as
 * {"$bigint": digits}), so the same digest.
 */
export function hashCharge(input: {
  sessionId: string;
  minute: bigint;
  payerUserId: string;
  payeeUserId: string;
  amount: { amountMinor: bigint; currency: string } | undefined;
  holdId: string;
}): string {
  const amount =
    input.amount === undefined
      ? ""
      : `"amount":{"amountMinor":{"$bigint":"${input.amount.amountMinor}"},"currency":"${inJson(input.amount.currency)}"},`;
  return digest(
    `{${amount}"holdId":"${inJson(input.holdId)}","minute":{"$bigint":"${input.minute}"},` +
      `"payeeUserId":"${inJson(input.payeeUserId)}","payerUserId":"${inJson(input.payerUserId)}","sessionId":"${inJson(input.sessionId)}"}`,
  );
}

/** Text JSON.stringify writes as it is between its quotes: printable ASCII but `"` and `\`. */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A string as JSON.stringify writes it, without the quotes: the string itself when nothing in it
 * is escaped (ids are), so a charge's digest makes no quoted copy of each field (the digest
 * allocated ≈ 1.5 KB a minute with them, a fifth of a 1,000-minute batch's allocations; ≈ 0.95 KB
 * without, and 2.7 → 2.1 µs).
 */
const inJson = (text: string): string => (PLAIN_JSON.test(text) ? text : JSON.stringify(text).slice(1, -1));

/** A stable digest of request parameters: same parameters, same hash, whatever the key order. */
export function hashRequest(parameters: Record<string, unknown>): string {
  const canonical = JSON.stringify(parameters, (_key, value: unknown) => {
    if (typeof value === "bigint") return { $bigint: value.toString() };
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
    }
    return value;
  });
  return digest(canonical);
}
