import { isPgError } from "@parley/kit/db";
import type { ChargeItem, ChargePlan, ChargeReceipt, ChargeSnapshot } from "../domain/charges";
import type { ChargeStore } from "../domain/ports";
import { postingWrites, walletWrites } from "./ledger";
import { createPlainCharges } from "./plain-charges";
import { type HoldRow, type WalletRow, walletSnapshots } from "./rows";
import { array, type PlatformAccounts, pipelinedTransaction, type Sql, type Tx } from "./sql";

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
      select a.id, a.owner_id, a.currency, a.balance, a.frozen_at is not null as frozen
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

/** Per-minute session charges: one statement for a plain minute, one set-based transaction per batch. */
export function createChargeStore(sql: Sql, platform: PlatformAccounts): ChargeStore {
  const plain = createPlainCharges(sql, platform);
  return {
    /** See createPlainCharges: one autocommit statement, shared by the plain minutes of concurrent calls. */
    chargePlain(item, transactionId, now) {
      return plain.charge({ item, transactionId, now });
    },

    /** See createPlainCharges: the batch's own statement, one round trip. */
    chargePlainBatch(items, now) {
      return plain.chargeMany(items.map(({ item, transactionId }) => ({ item, transactionId, now })));
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
            // The journal with its entries, then the receipts (they name its transactions): the
            // postings' statement takes the payees' earnings rows, which concurrent batches paying
            // the same experts wait for, so those locks are taken last and held only until COMMIT.
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
