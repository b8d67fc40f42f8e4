import { newId } from "@parley/kit/ids";
import { holdView, splitPosting, WalletBook, type WalletLimits, type WalletPlan } from "./ledger";
import type { Hold, WalletChanges, WalletSnapshot } from "./model";

export interface HoldContext {
  now: Date;
  limits: WalletLimits;
}

const changesOf = (book: WalletBook): WalletChanges | undefined =>
  book.changed ? book.changes() : undefined;

/** Reserves money on a wallet: refused with the shortfall when more than is available. */
export function planHold(
  wallet: WalletSnapshot,
  input: { amount: bigint; reference: string; expiresAt: Date },
  context: HoldContext,
): WalletPlan<Hold> {
  const book = new WalletBook(wallet, context.now, context.limits);
  const placed = book.reserve({
    holdId: newId(),
    accountId: book.accountId ?? "",
    userId: wallet.userId,
    currency: wallet.currency,
    amount: input.amount,
    captured: 0n,
    status: "open",
    reference: input.reference,
    expiresAt: input.expiresAt,
    createdAt: context.now,
    resolvedAt: null,
  });
  return { wallet: book.changes(), postings: [], result: holdView(placed, context.now) };
}

/** Moves a live hold's expiry later; never shortens it. */
export function planExtend(
  wallet: WalletSnapshot,
  input: { holdId: string; expiresAt: Date },
  context: HoldContext,
): WalletPlan<Hold> {
  const book = new WalletBook(wallet, context.now, context.limits);
  const hold = book.extend(input.holdId, input.expiresAt);
  return { wallet: changesOf(book), postings: [], result: holdView(hold, context.now) };
}

/** Releases what remains of a live hold. */
export function planRelease(wallet: WalletSnapshot, holdId: string, context: HoldContext): WalletPlan<Hold> {
  const book = new WalletBook(wallet, context.now, context.limits);
  const hold = book.release(holdId);
  return { wallet: changesOf(book), postings: [], result: holdView(hold, context.now) };
}

/** Captures part of a live hold: the payer pays the payee, less the platform's commission. */
export function planCapture(
  wallet: WalletSnapshot,
  input: { holdId: string; amount: bigint; commission: bigint; payeeUserId: string },
  context: HoldContext,
): WalletPlan<{ hold: Hold; transactionId: string }> {
  const book = new WalletBook(wallet, context.now, context.limits);
  const { balanceAfter, hold } = book.capture(input.holdId, input.amount);
  const transactionId = newId();
  return {
    wallet: book.changes(),
    postings: [
      splitPosting({
        transactionId,
        type: "hold_capture",
        currency: hold.currency,
        reference: hold.reference,
        walletAccountId: book.accountId!,
        balanceAfter,
        payeeUserId: input.payeeUserId,
        amount: input.amount,
        commission: input.commission,
      }),
    ],
    result: { hold: holdView(hold, context.now), transactionId },
  };
}

/** Marks the overdue holds of locked wallets expired (they stopped reserving money already). */
export function planExpiry(wallets: readonly WalletSnapshot[], context: HoldContext): WalletChanges[] {
  return wallets.flatMap((wallet) => {
    const changes = changesOf(new WalletBook(wallet, context.now, context.limits));
    return changes ? [changes] : [];
  });
}
