import type { HoldRecord, HoldStatus, WalletSnapshot } from "../domain/model";

/** billing.holds as selected with `select *`. */
export interface HoldRow {
  id: string;
  account_id: string;
  user_id: string;
  currency: string;
  amount: bigint;
  captured: bigint;
  status: HoldStatus;
  reference: string;
  expires_at: Date;
  created_at: Date;
  resolved_at: Date | null;
}

export const toHoldRecord = (row: HoldRow): HoldRecord => ({
  holdId: row.id,
  accountId: row.account_id,
  userId: row.user_id,
  currency: row.currency,
  amount: row.amount,
  captured: row.captured,
  status: row.status,
  reference: row.reference,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
  resolvedAt: row.resolved_at,
});

/** A locked wallet row. */
export interface WalletRow {
  id: string;
  owner_id: string;
  currency: string;
  balance: bigint;
  /** Read from the locked row (frozen_at is not null). */
  frozen?: boolean;
}

/** Wallet rows and hold rows read under the same locks, as the domain's snapshots. */
export function walletSnapshots(wallets: readonly WalletRow[], holds: readonly HoldRow[]): WalletSnapshot[] {
  const byAccount = new Map<string, HoldRecord[]>();
  for (const row of holds) {
    const list = byAccount.get(row.account_id) ?? [];
    list.push(toHoldRecord(row));
    byAccount.set(row.account_id, list);
  }
  return wallets.map((wallet) => ({
    accountId: wallet.id,
    userId: wallet.owner_id,
    currency: wallet.currency,
    balance: wallet.balance,
    holds: byAccount.get(wallet.id) ?? [],
    frozen: wallet.frozen ?? false,
  }));
}
