import { holdNotFound } from "../domain/ledger";
import type { HoldStore } from "../domain/ports";
import { holdsOf, lockWallet, walletMove, walletWrites } from "./ledger";
import { type WalletRow, walletSnapshots } from "./rows";
import { type PlatformAccounts, pipelined, type Sql } from "./sql";

/** How many wallets one sweep locks at a time. */
const SWEEP_WALLETS = 500;

/** Holds: placed, extended, captured and released on their wallet's lock. */
export function createHoldStore(sql: Sql, platform: PlatformAccounts): HoldStore {
  return {
    place(key, target, plan) {
      return walletMove(
        sql,
        platform,
        key,
        target.now,
        (tx) => lockWallet(tx, target, { create: false }),
        plan,
      );
    },

    change(key, target, plan) {
      return walletMove(
        sql,
        platform,
        key,
        target.now,
        async (tx) => {
          // The hold's wallet is found without a lock, so the wallet is locked before the hold.
          const [owner] = await tx<{ user_id: string; currency: string }[]>`
            select user_id, currency from billing.holds where id = ${target.holdId}`;
          if (!owner) throw holdNotFound(target.holdId);
          return lockWallet(
            tx,
            { userId: owner.user_id, currency: owner.currency },
            { create: false, holdIds: [target.holdId] },
          );
        },
        plan,
      );
    },

    async expireOverdue(now, plan) {
      return (await sql.begin(async (tx) => {
        const wallets = await tx<WalletRow[]>`
          select a.id, a.owner_id, a.currency, a.balance from billing.accounts a
          where a.id in (
            select account_id from billing.holds where status = 'open' and expires_at <= ${now}
            limit ${SWEEP_WALLETS})
          order by a.id
          for update of a skip locked`;
        if (wallets.length === 0) return 0;
        const holds = await holdsOf(
          tx,
          wallets.map((wallet) => wallet.id),
        );
        const changes = plan(walletSnapshots(wallets, holds));
        if (changes.length > 0) await pipelined(walletWrites(tx, changes));
        return changes.reduce((count, wallet) => count + wallet.holds.length, 0);
      })) as number;
    },
  };
}
