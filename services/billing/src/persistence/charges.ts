import { newId } from "@parley/kit/ids";
import type { ChargeItem, ChargePlan, ChargeReceipt, ChargeSnapshot } from "../domain/charges";
import type { ChargeStore } from "../domain/ports";
import { postingWrites, walletWrites } from "./ledger";
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

/** How often a batch runs when a concurrent duplicate (other parameters) took one of its minutes first. */
const DUPLICATE_ATTEMPTS = 3;

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

/** The receipts of the charged minutes: each minute's key, and the answer a retry gets back. */
function receiptWrites(tx: Tx, plan: ChargePlan, at: Date) {
  const charges = plan.charges;
  const column = <T extends string | bigint | Date | null>(pick: (charge: (typeof charges)[number]) => T) =>
    array(charges.map(pick));
  return tx`
    insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency,
      amount, commission, created_at, request_hash, balance_after, available_after, hold_remaining_after)
    select transaction_id, session_id, minute, payer_user_id, payee_user_id, currency, amount, commission,
      ${at}::timestamptz, request_hash, balance_after, available_after, hold_remaining_after
    from unnest(${column((c) => c.transactionId)}::uuid[], ${column((c) => c.sessionId)}::text[],
      ${column((c) => c.minute)}::int8[], ${column((c) => c.payerUserId)}::text[],
      ${column((c) => c.payeeUserId)}::text[], ${column((c) => c.currency)}::text[],
      ${column((c) => c.amount)}::int8[], ${column((c) => c.commission)}::int8[],
      ${column((c) => c.requestHash)}::text[], ${column((c) => c.balanceAfter)}::int8[],
      ${column((c) => c.availableAfter)}::int8[], ${column((c) => c.holdRemainingAfter)}::int8[])
      as c(transaction_id, session_id, minute, payer_user_id, payee_user_id, currency, amount, commission,
        request_hash, balance_after, available_after, hold_remaining_after)`;
}

/** A database check that refused the plain minute: the planner decides what happened instead. */
const PLAIN_REFUSALS = [
  ["23505", "charges_session_minute"],
  ["23514", "accounts_held_within_balance"],
  ["23514", "accounts_user_balance_non_negative"],
  ["23514", "charges_session_not_settled"],
] as const;

/** Per-minute session charges: one statement for a plain minute, one set-based transaction per batch. */
export function createChargeStore(sql: Sql, platform: PlatformAccounts): ChargeStore {
  return {
    /**
     * One round trip, one autocommit statement: the wallet's update (which waits for its row lock
     * and works on the row's latest version) goes ahead only when the minute is the plain case,
     * and every other write depends on it. The conditions read the statement's snapshot, which may
     * be older than the lock; each can only have become less favourable since (a hold past expiry
     * stays so, a resolved hold never reopens), and what can have changed is refused by the database itself:
     * the minute's unique key (charged meanwhile), `held ≤ balance` (funds), the settled-session
     * trigger (invoiced meanwhile; it reads the invoices when the statement ends).
     */
    async chargePlain(item, transactionId, now) {
      const revenue = platform.cachedRevenue(item.currency);
      if (!revenue) return undefined;
      try {
        // Each value is sent once (a `p` row the statement reads), not once per use.
        const [paid] = await sql<{ balance: bigint; held: bigint }[]>`
          with p as (
            select ${transactionId}::uuid as tx, ${item.payerUserId}::text as payer,
              ${item.payeeUserId}::text as payee, ${item.currency}::char(3) as currency,
              ${item.sessionId}::text as session, ${item.minute}::int8 as minute, ${item.amount}::int8 as amount,
              ${item.commission}::int8 as commission, ${now}::timestamptz as at, ${item.holdId || null}::uuid as hold,
              ${revenue}::uuid as revenue, ${newId()}::uuid as new_earnings, ${item.requestHash}::text as hash
          ), paid as (
            update billing.accounts a set balance = a.balance - p.amount
            from p
            where a.kind = 'wallet' and a.owner_id = p.payer and a.currency = p.currency
              and not exists (
                select 1 from billing.charges c where c.session_id = p.session and c.minute = p.minute)
              and not exists (
                select 1 from billing.holds h where h.account_id = a.id and h.status = 'open' and h.expires_at <= p.at)
              and (p.hold is null or exists (
                select 1 from billing.holds h where h.id = p.hold and h.account_id = a.id and h.status <> 'open'))
            returning a.id, a.balance, a.held
          ), earned as (
            insert into billing.accounts (id, kind, owner_id, currency, balance)
            select p.new_earnings, 'earnings', p.payee, p.currency, p.amount - p.commission from paid, p
            on conflict (kind, owner_id, currency) do update set balance = accounts.balance + excluded.balance
            returning id, balance
          ), posted as (
            insert into billing.transactions (id, type, currency, reference, created_at)
            select p.tx, 'session_charge', p.currency, 'session:' || p.session, p.at from paid, p
          ), lines as (
            insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
            select p.tx, paid.id, -p.amount, paid.balance, p.at from paid, p
            union all
            select p.tx, earned.id, p.amount - p.commission, earned.balance, p.at from earned, p
            union all
            select p.tx, p.revenue, p.commission, null, p.at from paid, p
          ), receipt as (
            insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency,
              amount, commission, created_at, request_hash, balance_after, available_after, hold_remaining_after)
            select p.tx, p.session, p.minute, p.payer, p.payee, p.currency, p.amount, p.commission, p.at, p.hash,
              paid.balance, paid.balance - paid.held, 0
            from paid, p
          )
          select balance, held from paid`;
        if (!paid) return undefined;
        return {
          transactionId,
          sessionId: item.sessionId,
          minute: item.minute,
          currency: item.currency,
          amount: item.amount,
          requestHash: item.requestHash,
          balanceAfter: paid.balance,
          availableAfter: paid.balance - paid.held,
          holdRemainingAfter: 0n,
        };
      } catch (error) {
        if (PLAIN_REFUSALS.some(([code, constraint]) => isPgError(error, code, constraint))) return undefined;
        throw error;
      }
    },

    /**
     * Runs `plan` over a locked snapshot of the items' wallets and keys and applies it, in two
     * round trips: the snapshot (BEGIN pipelined with its reads), then every write pipelined
     * with COMMIT. When a concurrent charge with other parameters took one of the minutes first
     * (its payer's wallet is not one this batch locked), the batch runs again and that item
     * comes out refused.
     */
    async chargeBatch(items, now, plan) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pipelinedTransaction(sql, async (tx, { begin, commitWith }) => {
            const decided = plan(await lockedSnapshot(tx, begin, items));
            await commitWith(
              ...(decided.wallets.length > 0 ? walletWrites(tx, decided.wallets) : []),
              ...(decided.charges.length > 0
                ? [
                    ...(await postingWrites(tx, decided.postings, now, platform)),
                    receiptWrites(tx, decided, now),
                  ]
                : []),
            );
            return decided;
          });
        } catch (error) {
          if (attempt < DUPLICATE_ATTEMPTS && isPgError(error, "23505", "charges_session_minute")) continue;
          throw error;
        }
      }
    },
  };
}
