import { holdNotFound, WalletBook, type WalletLimits } from "./ledger";
import type { Invoice, InvoiceLine, WalletChanges, WalletSnapshot } from "./model";

/** An invoice as stored: the minutes counted at settlement; refunds are added when read. */
export interface InvoiceRecord extends Omit<Invoice, "lines" | "total"> {
  rate: bigint;
  minutes: bigint;
  charged: bigint;
  settleHash: string;
}

/** The invoice people see: minutes × rate, then one line per refund. */
export function invoiceOf(
  record: InvoiceRecord,
  refunds: readonly { amount: bigint; reason: string }[],
): Invoice {
  const lines: InvoiceLine[] = [
    {
      kind: "minutes",
      description: `${record.minutes} ${record.kind} minute(s) × ${record.rate}`,
      quantity: record.minutes,
      unitPrice: record.rate,
      amount: record.charged,
    },
    ...refunds.map((refund) => ({
      kind: "refund" as const,
      description: `refund (${refund.reason})`,
      quantity: 1n,
      unitPrice: -refund.amount,
      amount: -refund.amount,
    })),
  ];
  return {
    invoiceId: record.invoiceId,
    sessionId: record.sessionId,
    payerUserId: record.payerUserId,
    payeeUserId: record.payeeUserId,
    kind: record.kind,
    currency: record.currency,
    lines,
    total: lines.reduce((total, line) => total + line.amount, 0n),
    createdAt: record.createdAt,
  };
}

/**
 * Closes a session's money on its payer's locked wallet: what remains of its hold is released
 * (a hold past its expiry is marked expired). The hold must be on this wallet.
 */
export function planSettlement(
  wallet: WalletSnapshot,
  holdId: string,
  context: { now: Date; limits: WalletLimits },
): WalletChanges | undefined {
  const book = new WalletBook(wallet, context.now, context.limits);
  if (holdId) {
    const hold = book.hold(holdId);
    if (!hold) throw holdNotFound(holdId);
    if (hold.status === "open") book.release(holdId);
  }
  return book.changed ? book.changes() : undefined;
}
