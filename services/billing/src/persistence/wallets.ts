import type { AccountEntry, Earnings, TransactionType } from "../domain/model";
import type { EarningsStore, WalletStore } from "../domain/ports";
import { lockWallet, walletMove } from "./ledger";
import type { PlatformAccounts, Sql } from "./sql";
import { walletReader } from "./wallet-reads";

/** Wallets: balances with their holds, history, credits. */
export function createWalletStore(sql: Sql, platform: PlatformAccounts): WalletStore {
  const readWallet = walletReader(sql);
  return {
    read(userId, currency) {
      return readWallet(userId, currency);
    },

    async entries(input) {
      const rows = await sql<
        {
          id: bigint;
          transaction_id: string;
          type: TransactionType;
          currency: string;
          amount: bigint;
          balance_after: bigint;
          reference: string;
          created_at: Date;
        }[]
      >`
        select e.id, e.transaction_id, t.type, t.currency, e.amount, e.balance_after, t.reference, e.created_at
        from billing.entries e
        join billing.accounts a on a.id = e.account_id
        join billing.transactions t on t.id = e.transaction_id
        where a.kind = ${input.kind} and a.owner_id = ${input.userId} and a.currency = ${input.currency}
          and e.id < ${input.beforeEntryId ?? 9223372036854775807n}
        order by e.id desc
        limit ${input.limit}`;
      return rows.map(
        (row): AccountEntry => ({
          entryId: row.id,
          transactionId: row.transaction_id,
          type: row.type,
          currency: row.currency,
          amount: row.amount,
          balanceAfter: row.balance_after,
          reference: row.reference,
          createdAt: row.created_at,
        }),
      );
    },

    credit(key, target, plan) {
      return walletMove(
        sql,
        platform,
        key,
        target.now,
        (tx) => lockWallet(tx, target, { create: true }),
        plan,
      );
    },
  };
}

/**
 * Experts' earnings: the running balance, and lifetime totals from its entries by their
 * transaction's type: earned from charges and captured holds, refunded by session refunds.
 * Payouts leave and, failed, come back: neither is earned nor refunded.
 */
export function createEarningsStore(sql: Sql): EarningsStore {
  return {
    async read(expertUserId, currency): Promise<Earnings> {
      const [row] = await sql<{ balance: bigint; earned: bigint; refunded: bigint }[]>`
        select a.balance,
          coalesce((select sum(e.amount) filter (where t.type in ('session_charge', 'hold_capture'))
            from billing.entries e join billing.transactions t on t.id = e.transaction_id
            where e.account_id = a.id), 0)::int8 as earned,
          coalesce((select -sum(e.amount) filter (where t.type = 'refund')
            from billing.entries e join billing.transactions t on t.id = e.transaction_id
            where e.account_id = a.id), 0)::int8 as refunded
        from billing.accounts a
        where a.kind = 'earnings' and a.owner_id = ${expertUserId} and a.currency = ${currency}`;
      return {
        expertUserId,
        currency,
        balance: row?.balance ?? 0n,
        earned: row?.earned ?? 0n,
        refunded: row?.refunded ?? 0n,
      };
    },
  };
}
