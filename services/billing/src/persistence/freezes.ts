import { newId } from "@parley/kit/ids";
import type { FreezeStore } from "../domain/ports";
import { array, type Sql } from "./sql";

/** Freezes live on the wallet rows, so every debit's lock on a wallet reads them fresh. */
export function createFreezeStore(sql: Sql): FreezeStore {
  return {
    async setFrozen(userId, frozen, currencies, now) {
      return (await sql.begin(async (tx) => {
        // The wallets' row locks order a freeze against charges, holds and refunds of them.
        const before = await tx<{ frozen: boolean }[]>`
          select frozen_at is not null as frozen from billing.accounts
          where kind = 'wallet' and owner_id = ${userId} order by id for update`;
        if (frozen)
          await tx`
            insert into billing.accounts (id, kind, owner_id, currency, frozen_at)
            select id, 'wallet', ${userId}, currency, ${now}::timestamptz
            from unnest(${array(currencies.map(() => newId()))}::uuid[], ${array([...currencies])}::text[]) as c(id, currency)
            order by currency
            on conflict (kind, owner_id, currency)
              do update set frozen_at = coalesce(accounts.frozen_at, excluded.frozen_at)`;
        else
          await tx`update billing.accounts set frozen_at = null
            where kind = 'wallet' and owner_id = ${userId} and frozen_at is not null`;
        return { wasFrozen: before.some((row) => row.frozen) };
      })) as { wasFrozen: boolean };
    },

    async pending(userId) {
      const [row] = await sql<{ holds: number; payments: number; payouts: number }[]>`
        select
          (select count(*)::int from billing.holds where user_id = ${userId} and status = 'open') as holds,
          (select count(*)::int from billing.payments where user_id = ${userId} and status = 'pending')
            + (select count(*)::int from billing.payment_refunds r join billing.payments p on p.id = r.payment_id
               where p.user_id = ${userId} and r.status = 'pending') as payments,
          (select count(*)::int from billing.payouts where expert_user_id = ${userId} and status = 'processing') as payouts`;
      return {
        openHolds: row?.holds ?? 0,
        pendingPayments: row?.payments ?? 0,
        payoutsInFlight: row?.payouts ?? 0,
      };
    },

    async isFrozen(userId) {
      const rows = await sql`select 1 from billing.accounts
        where kind = 'wallet' and owner_id = ${userId} and frozen_at is not null limit 1`;
      return rows.length > 0;
    },
  };
}
