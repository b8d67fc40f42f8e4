import { type AppError, alreadyExists, failedPrecondition, isAppError } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type Posting, splitPosting, WalletBook, type WalletLimits } from "./ledger";
import type { ChargeOutcome, ChargeResult, WalletChanges, WalletSnapshot } from "./model";
import { minutesPayable } from "./money";

/** One minute to charge, validated, with its commission worked out and its request digest. */
export interface ChargeItem {
  sessionId: string;
  minute: bigint;
  payerUserId: string;
  payeeUserId: string;
  currency: string;
  amount: bigint;
  commission: bigint;
  holdId: string;
  requestHash: string;
}

/** A charged minute as stored: the once-per-minute key, and the answer a retry gets back. */
export interface ChargeReceipt {
  transactionId: string;
  sessionId: string;
  minute: bigint;
  currency: string;
  amount: bigint;
  requestHash: string;
  balanceAfter: bigint;
  availableAfter: bigint;
  /** What the session's hold still reserved after the minute (0 without a live hold). */
  holdRemainingAfter: bigint;
}

/**
 * What a charge plan reads under lock: the payers' wallets (each with its open holds and the
 * holds the items name), the minutes already charged under the items' keys, and which of the
 * items' sessions are settled. Wallets that never received money are absent.
 */
export interface ChargeSnapshot {
  wallets: WalletSnapshot[];
  receipts: ChargeReceipt[];
  settledSessions: ReadonlySet<string>;
}

/** A minute to record: its receipt and who paid whom. */
export interface PlannedCharge extends ChargeReceipt {
  payerUserId: string;
  payeeUserId: string;
  commission: bigint;
}

export interface ChargePlan {
  /** One per item, in request order. */
  outcomes: ChargeOutcome[];
  /** The minutes to record, and their postings, in the order decided (balances chain in it). */
  charges: PlannedCharge[];
  postings: Posting[];
  wallets: WalletChanges[];
  /** Each refusal, as Charge reports it, by item index. */
  refusals: Map<number, AppError>;
}

export const sessionSettled = () =>
  failedPrecondition("SESSION_SETTLED", "the session is settled; its minutes can no longer change");

const keyReused = () =>
  alreadyExists("IDEMPOTENCY_KEY_REUSED", "this minute was already charged with different parameters");

const keyOf = (sessionId: string, minute: bigint) => `${sessionId}\u0000${minute}`;
const walletKey = (userId: string, currency: string) => `${userId}\u0000${currency}`;

/** The answer a charged minute gives, now or on any retry. */
export function chargeResult(receipt: ChargeReceipt): ChargeResult {
  return {
    transactionId: receipt.transactionId,
    currency: receipt.currency,
    available: receipt.availableAfter,
    balance: receipt.balanceAfter,
    minutesLeft: minutesPayable(receipt.availableAfter + receipt.holdRemainingAfter, receipt.amount),
  };
}

/** A refusal as a batch item's outcome; anything but a domain refusal is a bug and is rethrown. */
function refusalOutcome(error: unknown): ChargeOutcome {
  if (isAppError(error, "INSUFFICIENT_FUNDS"))
    return {
      kind: "insufficient_funds",
      shortfall: BigInt(error.metadata.shortfall_minor ?? "0"),
      currency: error.metadata.currency ?? "",
    };
  if (isAppError(error, "SESSION_SETTLED")) return { kind: "settled" };
  if (isAppError(error)) return { kind: "refused", reason: error.reason, message: error.message };
  throw error;
}

const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order minutes are applied in, whoever applies them: by wallet, then session, then minute. */
export function byApplicationOrder(a: ChargeItem, b: ChargeItem): number {
  return (
    text(a.payerUserId, b.payerUserId) ||
    text(a.currency, b.currency) ||
    text(a.sessionId, b.sessionId) ||
    (a.minute < b.minute ? -1 : a.minute > b.minute ? 1 : 0)
  );
}

/**
 * Minutes in the application order of each wallet, which is all that decides outcomes (wallets
 * never share funds): grouped by wallet in order of first appearance, each wallet's minutes
 * sorted by byApplicationOrder. A batch has about one minute per wallet, so this costs a pass
 * and a few short sorts where sorting the whole batch costs thousands of comparisons.
 */
export function inWalletOrder<T>(minutes: readonly T[], itemOf: (minute: T) => ChargeItem): T[] {
  const wallets = new Map<string, T[]>();
  for (const minute of minutes) {
    const item = itemOf(minute);
    const key = walletKey(item.payerUserId, item.currency);
    const wallet = wallets.get(key);
    if (wallet) wallet.push(minute);
    else wallets.set(key, [minute]);
  }
  const ordered: T[] = [];
  for (const wallet of wallets.values()) {
    if (wallet.length > 1) wallet.sort((a, b) => byApplicationOrder(itemOf(a), itemOf(b)));
    for (const minute of wallet) ordered.push(minute);
  }
  return ordered;
}

/**
 * Decides every minute of a batch against one locked snapshot, as if they were charged one
 * after another in a fixed order (wallet, session, minute): a minute already charged replays
 * its receipt (or is refused when its parameters differ); a settled session's minute is
 * refused; otherwise the wallet pays, from the session's hold first and then from what is
 * available, or the minute is refused with the shortfall. Each refusal leaves the wallet as
 * it was, so the next minute sees exactly what it would have seen alone.
 */
export function planCharges(
  items: readonly ChargeItem[],
  snapshot: ChargeSnapshot,
  context: { now: Date; limits: WalletLimits },
): ChargePlan {
  const books = new Map<string, WalletBook>();
  for (const wallet of snapshot.wallets)
    books.set(walletKey(wallet.userId, wallet.currency), new WalletBook(wallet, context.now, context.limits));
  const bookOf = (item: ChargeItem) => {
    const key = walletKey(item.payerUserId, item.currency);
    let book = books.get(key);
    if (!book) {
      book = new WalletBook(
        { accountId: undefined, userId: item.payerUserId, currency: item.currency, balance: 0n, holds: [] },
        context.now,
        context.limits,
      );
      books.set(key, book);
    }
    return book;
  };
  const receipts = new Map(
    snapshot.receipts.map((receipt) => [keyOf(receipt.sessionId, receipt.minute), receipt]),
  );

  const outcomes: ChargeOutcome[] = new Array(items.length);
  const refusals = new Map<number, AppError>();
  const charges: PlannedCharge[] = [];
  const postings: Posting[] = [];
  const order = items.map((_, index) => index).sort((x, y) => byApplicationOrder(items[x]!, items[y]!));
  for (const index of order) {
    const item = items[index]!;
    const earlier = receipts.get(keyOf(item.sessionId, item.minute));
    try {
      if (earlier) {
        if (earlier.requestHash !== item.requestHash) throw keyReused();
        outcomes[index] = { kind: "replayed", result: chargeResult(earlier) };
        continue;
      }
      if (snapshot.settledSessions.has(item.sessionId)) throw sessionSettled();
      const book = bookOf(item);
      const { balanceAfter, holdRemaining } = book.debit(item.amount, item.holdId);
      const receipt: ChargeReceipt = {
        transactionId: newId(),
        sessionId: item.sessionId,
        minute: item.minute,
        currency: item.currency,
        amount: item.amount,
        requestHash: item.requestHash,
        balanceAfter,
        availableAfter: book.available,
        holdRemainingAfter: holdRemaining,
      };
      charges.push({
        ...receipt,
        payerUserId: item.payerUserId,
        payeeUserId: item.payeeUserId,
        commission: item.commission,
      });
      postings.push(
        splitPosting({
          transactionId: receipt.transactionId,
          type: "session_charge",
          currency: item.currency,
          reference: `session:${item.sessionId}`,
          walletAccountId: book.accountId!,
          balanceAfter,
          payeeUserId: item.payeeUserId,
          amount: item.amount,
          commission: item.commission,
        }),
      );
      outcomes[index] = { kind: "charged", result: chargeResult(receipt) };
    } catch (error) {
      outcomes[index] = refusalOutcome(error);
      refusals.set(index, error as AppError);
    }
  }
  return {
    outcomes,
    charges,
    postings,
    wallets: [...books.values()].filter((book) => book.changed).map((book) => book.changes()),
    refusals,
  };
}
