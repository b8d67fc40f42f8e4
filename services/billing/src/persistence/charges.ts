import { newId } from "@parley/kit/ids";
import type { ChargeItem, ChargePlan, ChargeReceipt, ChargeSnapshot } from "../domain/charges";
import type { WalletChanges } from "../domain/model";
import { type HoldRow, type WalletRow, walletSnapshots } from "./rows";
import { array, isPgError, type PlatformAccounts, pipelinedTransaction, type Sql, type Tx } from "./sql";

interface ChargeRow {
  transaction_id: string;
  session_id: string;
  minute: bigint;
  currency: string;
  amount: bigint;
  request_hash: string;
  balance_after: bigint;
  available_after: bigint;
  hold_remaining_after: bigint;
}

const toReceipt = (row: ChargeRow): ChargeReceipt => ({
  transactionId: row.transaction_id,
  sessionId: row.session_id,
  minute: row.minute,
  currency: row.currency,
  amount: row.amount,
  requestHash: row.request_hash,
  balanceAfter: row.balance_after,
  availableAfter: row.available_after,
  holdRemainingAfter: row.hold_remaining_after,
});

const distinct = <T>(values: T[]): T[] => [...new Set(values)];

/** How often a batch is retried when a concurrent duplicate (other parameters) took one of its minutes first. */
const DUPLICATE_RETRIES = 3;

/**
 * Reads what a charge plan needs, under lock, in one round trip: BEGIN, then the payers' wallets
 * locked in id order, then (each a later statement, so it sees everything committed before the
 * locks were granted) their open holds and the holds the items name, the minutes already
 * charged under the items' keys, and which sessions are settled.
 */
async function lockedSnapshot(
  tx: Tx,
  begin: () => Promise<unknown>,
  items: readonly ChargeItem[],
): Promise<ChargeSnapshot> {
  const pairs = distinct(items.map((item) => `${item.payerUserId}\u0000${item.currency}`)).map((pair) =>
    pair.split("\u0000"),
  );
  const owners = array(pairs.map(([owner]) => owner!));
  const currencies = array(pairs.map(([, currency]) => currency!));
  const [, wallets, holds, receipts, settled] = await Promise.all([
    begin(),
    tx<WalletRow[]>`
      select a.id, a.owner_id, a.currency, a.balance
      from billing.accounts a
      join unnest(${owners}::text[], ${currencies}::text[]) as w(owner_id, currency)
        on a.kind = 'wallet' and a.owner_id = w.owner_id and a.currency = w.currency
      order by a.id
      for update of a`,
    tx<HoldRow[]>`
      with wallets as (
        select a.id from billing.accounts a
        join unnest(${owners}::text[], ${currencies}::text[]) as w(owner_id, currency)
          on a.kind = 'wallet' and a.owner_id = w.owner_id and a.currency = w.currency
      )
      select h.* from billing.holds h where h.status = 'open' and h.account_id in (select id from wallets)
      union
      select h.* from billing.holds h
      where h.id = any(${array(distinct(items.map((item) => item.holdId).filter(Boolean)))}::uuid[])
        and h.account_id in (select id from wallets)`,
    tx<ChargeRow[]>`
      select c.transaction_id, c.session_id, c.minute, c.currency, c.amount, c.request_hash,
        c.balance_after, c.available_after, c.hold_remaining_after
      from unnest(${array(items.map((item) => item.sessionId))}::text[], ${array(items.map((item) => item.minute))}::int8[])
        as k(session_id, minute)
      join billing.charges c on c.session_id = k.session_id and c.minute = k.minute`,
    tx<{ session_id: string }[]>`
      select session_id from billing.invoices
      where session_id = any(${array(distinct(items.map((item) => item.sessionId)))}::text[])`,
  ]);
  return {
    wallets: walletSnapshots(wallets, holds),
    receipts: receipts.map(toReceipt),
    settledSessions: new Set(settled.map((row) => row.session_id)),
  };
}

/** New balances of locked wallets and new states of their holds, in two statements. */
export function applyWalletChanges(tx: Tx, wallets: readonly WalletChanges[]) {
  const holds = wallets.flatMap((wallet) => wallet.holds);
  return [
    tx`
      update billing.accounts a set balance = w.balance
      from unnest(${array(wallets.map((w) => w.accountId))}::uuid[], ${array(wallets.map((w) => w.balance))}::int8[])
        as w(id, balance)
      where a.id = w.id`,
    tx`
      update billing.holds h set captured = c.captured, status = c.status, expires_at = c.expires_at,
        resolved_at = c.resolved_at
      from unnest(${array(holds.map((c) => c.holdId))}::uuid[], ${array(holds.map((c) => c.captured))}::int8[],
        ${array(holds.map((c) => c.status))}::text[], ${array(holds.map((c) => c.expiresAt))}::timestamptz[],
        ${array(holds.map((c) => c.resolvedAt))}::timestamptz[])
        as c(id, captured, status, expires_at, resolved_at)
      where h.id = c.id`,
  ];
}

/**
 * Posts planned minutes in bulk: one transaction per minute; its wallet, earnings and revenue
 * entries; its receipt. Each payee's earnings row is updated once per batch, in payee order,
 * by the sum of its minutes, and the earnings entries' balance_after chain back from the new
 * balance in the order the minutes were decided.
 */
async function postCharges(tx: Tx, plan: ChargePlan, now: Date, platform: PlatformAccounts) {
  const charges = plan.charges;
  const revenue = [];
  for (const charge of charges) revenue.push(await platform.revenue(tx, charge.currency));
  const totals = new Map<string, { owner: string; currency: string; total: bigint }>();
  for (const charge of charges) {
    const key = `${charge.payeeUserId}\u0000${charge.currency}`;
    const entry = totals.get(key) ?? { owner: charge.payeeUserId, currency: charge.currency, total: 0n };
    entry.total += charge.earnings;
    totals.set(key, entry);
  }
  const payees = [...totals.values()].sort((a, b) =>
    a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.currency < b.currency ? -1 : 1,
  );
  const column = <T extends string | bigint | Date | null>(pick: (charge: (typeof charges)[number]) => T) =>
    array(charges.map(pick));
  return [
    tx`
      insert into billing.transactions (id, type, currency, reference, created_at)
      select id, 'session_charge', currency, 'session:' || session_id, ${now}::timestamptz
      from unnest(${column((c) => c.transactionId)}::uuid[], ${column((c) => c.currency)}::text[],
        ${column((c) => c.sessionId)}::text[]) as t(id, currency, session_id)`,
    tx`
      with charged as (
        select * from unnest(${column((c) => c.transactionId)}::uuid[], ${column((c) => c.walletAccountId)}::uuid[],
          ${column((c) => c.amount)}::int8[], ${column((c) => c.balanceAfter)}::int8[],
          ${column((c) => c.payeeUserId)}::text[], ${column((c) => c.currency)}::text[],
          ${column((c) => c.earnings)}::int8[], ${array(revenue)}::uuid[], ${column((c) => c.commission)}::int8[])
          with ordinality as c(tx, wallet, amount, balance_after, payee, currency, earnings, revenue, commission, ord)
      ), earned as (
        insert into billing.accounts (id, kind, owner_id, currency, balance)
        select id, 'earnings', owner_id, currency, total
        from unnest(${array(payees.map(() => newId()))}::uuid[], ${array(payees.map((p) => p.owner))}::text[],
          ${array(payees.map((p) => p.currency))}::text[], ${array(payees.map((p) => p.total))}::int8[])
          with ordinality as p(id, owner_id, currency, total, ord)
        order by ord
        on conflict (kind, owner_id, currency) do update set balance = accounts.balance + excluded.balance
        returning id, owner_id, currency, balance
      ), lines as (
        select c.ord, 1 as leg, c.tx, c.wallet as account, -c.amount as amount, c.balance_after from charged c
        union all
        select c.ord, 2, c.tx, e.id, c.earnings, e.balance - coalesce(sum(c.earnings) over (
            partition by c.payee, c.currency order by c.ord desc rows between unbounded preceding and 1 preceding), 0)
        from charged c join earned e on e.owner_id = c.payee and e.currency = c.currency
        union all
        select c.ord, 3, c.tx, c.revenue, c.commission, null from charged c
      )
      insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
      select tx, account, amount, balance_after, ${now}::timestamptz from lines order by ord, leg`,
    tx`
      insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency,
        amount, commission, created_at, request_hash, balance_after, available_after, hold_remaining_after)
      select transaction_id, session_id, minute, payer_user_id, payee_user_id, currency, amount, commission,
        ${now}::timestamptz, request_hash, balance_after, available_after, hold_remaining_after
      from unnest(${column((c) => c.transactionId)}::uuid[], ${column((c) => c.sessionId)}::text[],
        ${column((c) => c.minute)}::int8[], ${column((c) => c.payerUserId)}::text[],
        ${column((c) => c.payeeUserId)}::text[], ${column((c) => c.currency)}::text[],
        ${column((c) => c.amount)}::int8[], ${column((c) => c.commission)}::int8[],
        ${column((c) => c.requestHash)}::text[], ${column((c) => c.balanceAfter)}::int8[],
        ${column((c) => c.availableAfter)}::int8[], ${column((c) => c.holdRemainingAfter)}::int8[])
        as c(transaction_id, session_id, minute, payer_user_id, payee_user_id, currency, amount, commission,
          request_hash, balance_after, available_after, hold_remaining_after)`,
  ];
}

/** Charges: per-minute session charges, applied as one set-based transaction per batch. */
export function createChargeStore(sql: Sql, platform: PlatformAccounts) {
  return {
    /**
     * Runs `plan` over a locked snapshot of the items' wallets and keys and applies it, in two
     * round trips: the snapshot (BEGIN pipelined with its reads), then every write pipelined
     * with COMMIT. When a concurrent charge with other parameters took one of the minutes first
     * (its payer's wallet is not one this batch locked), the batch runs again and that item
     * comes out refused.
     */
    async chargeBatch(
      items: readonly ChargeItem[],
      now: Date,
      plan: (snapshot: ChargeSnapshot) => ChargePlan,
    ): Promise<ChargePlan> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pipelinedTransaction(sql, async (tx, { begin, commitWith }) => {
            const decided = plan(await lockedSnapshot(tx, begin, items));
            const writes = [
              ...(decided.wallets.length > 0 ? applyWalletChanges(tx, decided.wallets) : []),
              ...(decided.charges.length > 0 ? await postCharges(tx, decided, now, platform) : []),
            ];
            await commitWith(...writes);
            return decided;
          });
        } catch (error) {
          if (attempt < DUPLICATE_RETRIES && isPgError(error, "23505", "charges_session_minute")) continue;
          throw error;
        }
      }
    },
  };
}

export type ChargeStore = ReturnType<typeof createChargeStore>;
