import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type postgres from "postgres";
import type { LedgerPort } from "../domain/ledger-port";
import type {
  Hold,
  IdempotencyKey,
  Invoice,
  InvoiceLine,
  Payment,
  PaymentStatus,
  SessionKind,
  TransactionType,
} from "../domain/model";
import { createChargeStore } from "./charges";
import { decodeResponse, encodeResponse } from "./codec";
import type { HoldRow } from "./rows";
import { platformAccounts, type Sql, type Tx } from "./sql";

interface EntryLine {
  accountId: string;
  amount: bigint;
  /** Only for accounts that keep a running balance (wallet, earnings). */
  balanceAfter: bigint | null;
}

interface Posting {
  transactionId: string;
  type: TransactionType;
  currency: string;
  reference: string;
  at: Date;
  lines: EntryLine[];
}

interface PaymentRow {
  id: string;
  user_id: string;
  currency: string;
  amount: bigint;
  status: PaymentStatus;
  provider: string;
  provider_reference: string;
  provider_payment_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export const insufficientFunds = (shortfall: bigint, currency: string) =>
  failedPrecondition("INSUFFICIENT_FUNDS", `insufficient funds: ${shortfall} ${currency} short`, {
    metadata: { shortfall_minor: shortfall.toString(), currency },
  });

const holdNotOpen = (hold: Hold) =>
  failedPrecondition("HOLD_NOT_OPEN", `hold ${hold.holdId} is ${hold.status}`, {
    metadata: { status: hold.status },
  });

/** A hold as callers see it: an open hold past its expiry is expired, whether or not the sweeper ran. */
function toHold(row: HoldRow, now: Date): Hold {
  const expired = row.status === "open" && row.expires_at.getTime() <= now.getTime();
  return {
    holdId: row.id,
    userId: row.user_id,
    currency: row.currency,
    amount: row.amount,
    captured: row.captured,
    status: expired ? "expired" : row.status,
    reference: row.reference,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}

function toPayment(row: PaymentRow): Payment {
  return {
    paymentId: row.id,
    userId: row.user_id,
    currency: row.currency,
    amount: row.amount,
    status: row.status,
    provider: row.provider,
    providerReference: row.provider_reference,
    providerPaymentId: row.provider_payment_id ?? "",
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Every money move of the ledger, each in one database transaction that takes row locks in
 * one fixed order (payer wallet → hold → payee earnings) so concurrent moves never deadlock.
 * Postgres.js prepares each statement once per connection, so hot queries are server-side
 * prepared statements.
 */
export function createLedgerStore(pool: postgres.Sql): LedgerPort {
  const sql = pool as unknown as Sql;
  /** Plain reads use the same query interface as a transaction, on the pool. */
  const reader = pool as unknown as Tx;
  const platform = platformAccounts();

  /**
   * Runs one money move under an idempotency key: the key row is inserted first, so a
   * concurrent duplicate waits for this transaction and then reads its committed response;
   * the response is saved in the same transaction as the money.
   */
  async function idempotent<T>(key: IdempotencyKey, move: (tx: Tx) => Promise<T>): Promise<T> {
    return sql.begin(async (tx) => {
      if (!(await claimKey(tx, key))) return replay<T>(tx, key);
      const result = await move(tx);
      await tx`
        update billing.idempotency_keys set response = ${encodeResponse(result)}
        where scope = ${key.scope} and key = ${key.key}`;
      return result;
    }) as Promise<T>;
  }

  /** True when this transaction now owns the key; waits while another transaction holds it. */
  async function claimKey(tx: Tx, key: IdempotencyKey): Promise<boolean> {
    const claimed = await tx`
      insert into billing.idempotency_keys (scope, key, request_hash)
      values (${key.scope}, ${key.key}, ${key.requestHash})
      on conflict (scope, key) do nothing
      returning 1`;
    return claimed.length === 1;
  }

  /** The committed response of an earlier request with this key, if its parameters match. */
  async function replay<T>(tx: Tx, key: IdempotencyKey): Promise<T> {
    const [stored] = await tx<{ request_hash: string; response: string | null }[]>`
      select request_hash, response from billing.idempotency_keys
      where scope = ${key.scope} and key = ${key.key}`;
    if (!stored || stored.request_hash !== key.requestHash || stored.response === null) {
      throw alreadyExists(
        "IDEMPOTENCY_KEY_REUSED",
        "this request_id was already used with different parameters",
      );
    }
    return decodeResponse<T>(stored.response);
  }

  /** Locks a user's wallet row (creating an empty wallet on first use) and reads its balance. */
  async function lockWallet(
    tx: Tx,
    userId: string,
    currency: string,
  ): Promise<{ id: string; balance: bigint }> {
    const [existing] = await tx<{ id: string; balance: bigint }[]>`
      select id, balance from billing.accounts
      where kind = 'wallet' and owner_id = ${userId} and currency = ${currency}
      for update`;
    if (existing) return existing;
    const [created] = await tx<{ id: string; balance: bigint }[]>`
      insert into billing.accounts (id, kind, owner_id, currency)
      values (${newId()}, 'wallet', ${userId}, ${currency})
      on conflict (kind, owner_id, currency) do update set kind = excluded.kind
      returning id, balance`;
    return created!;
  }

  /** What a wallet's open, unexpired holds still reserve: the one definition of "held", as SQL. */
  const heldSql = (accountId: string | postgres.PendingQuery<postgres.Row[]>, now: Date) => sql`
    (select coalesce(sum(h.amount - h.captured), 0)::int8 from billing.holds h
     where h.account_id = ${accountId} and h.status = 'open' and h.expires_at > ${now})`;

  /** Read after the wallet lock, so it sees every committed hold. */
  async function heldOn(tx: Tx, accountId: string, now: Date): Promise<bigint> {
    const [row] = await tx<{ held: bigint }[]>`select ${heldSql(accountId, now)} as held`;
    return row!.held;
  }

  async function addToWallet(tx: Tx, accountId: string, delta: bigint): Promise<bigint> {
    const [row] = await tx<{ balance: bigint }[]>`
      update billing.accounts set balance = balance + ${delta} where id = ${accountId} returning balance`;
    return row!.balance;
  }

  async function addToEarnings(
    tx: Tx,
    userId: string,
    currency: string,
    delta: bigint,
  ): Promise<{ id: string; balance: bigint }> {
    const [row] = await tx<{ id: string; balance: bigint }[]>`
      insert into billing.accounts (id, kind, owner_id, currency, balance)
      values (${newId()}, 'earnings', ${userId}, ${currency}, ${delta})
      on conflict (kind, owner_id, currency) do update set balance = accounts.balance + excluded.balance
      returning id, balance`;
    return row!;
  }

  /** Takes back earnings (refunds): the account exists, since it earned what is reversed. */
  async function subtractFromEarnings(
    tx: Tx,
    userId: string,
    currency: string,
    amount: bigint,
  ): Promise<{ id: string; balance: bigint }> {
    const [row] = await tx<{ id: string; balance: bigint }[]>`
      update billing.accounts set balance = balance - ${amount}
      where kind = 'earnings' and owner_id = ${userId} and currency = ${currency}
      returning id, balance`;
    return row!;
  }

  function entryRows(posting: Posting) {
    const sum = posting.lines.reduce((total, line) => total + line.amount, 0n);
    if (sum !== 0n) throw new Error(`unbalanced posting ${posting.transactionId}: entries sum to ${sum}`);
    return posting.lines.map((line) => ({
      transaction_id: posting.transactionId,
      account_id: line.accountId,
      amount: line.amount,
      balance_after: line.balanceAfter,
      created_at: posting.at,
    }));
  }

  /** Writes one balanced transaction and its entries in a single statement. */
  async function post(tx: Tx, posting: Posting): Promise<void> {
    const rows = entryRows(posting);
    await tx`
      with posted as (
        insert into billing.transactions (id, type, currency, reference, created_at)
        values (${posting.transactionId}, ${posting.type}, ${posting.currency}, ${posting.reference}, ${posting.at})
      )
      insert into billing.entries ${tx(rows, "transaction_id", "account_id", "amount", "balance_after", "created_at")}`;
  }

  async function lockHold(tx: Tx, holdId: string): Promise<HoldRow | undefined> {
    const [row] = await tx<HoldRow[]>`select * from billing.holds where id = ${holdId} for update`;
    return row;
  }

  /** Finds a hold's wallet without locking, so the wallet can be locked before the hold. */
  async function holdOwner(tx: Tx, holdId: string): Promise<{ userId: string; currency: string }> {
    const [row] = await tx<{ user_id: string; currency: string }[]>`
      select user_id, currency from billing.holds where id = ${holdId}`;
    if (!row) throw notFound("HOLD_NOT_FOUND", `no hold ${holdId}`);
    return { userId: row.user_id, currency: row.currency };
  }

  /** Locks wallet then hold; refuses a hold that is not open (expired counts as not open). */
  async function lockOpenHold(
    tx: Tx,
    holdId: string,
    now: Date,
  ): Promise<{ wallet: { id: string; balance: bigint }; hold: HoldRow }> {
    const owner = await holdOwner(tx, holdId);
    const wallet = await lockWallet(tx, owner.userId, owner.currency);
    const hold = (await lockHold(tx, holdId))!;
    const view = toHold(hold, now);
    if (view.status !== "open") {
      throw holdNotOpen(view);
    }
    return { wallet, hold };
  }

  async function markExpired(tx: Tx, holdId: string, now: Date): Promise<void> {
    await tx`update billing.holds set status = 'expired', resolved_at = ${now} where id = ${holdId} and status = 'open'`;
  }

  async function invoiceLines(
    tx: Tx,
    invoice: { sessionId: string; minutes: number; rate: bigint; charged: bigint; kind: SessionKind },
  ): Promise<InvoiceLine[]> {
    const refunds = await tx<{ amount: bigint; reason: string; created_at: Date }[]>`
      select amount, reason, created_at from billing.refunds where session_id = ${invoice.sessionId} order by id`;
    return [
      {
        kind: "minutes",
        description: `${invoice.minutes} ${invoice.kind} minute(s) × ${invoice.rate}`,
        quantity: BigInt(invoice.minutes),
        unitPrice: invoice.rate,
        amount: invoice.charged,
      },
      ...refunds.map((refund) => ({
        kind: "refund" as const,
        description: `refund (${refund.reason})`,
        quantity: 1n,
        unitPrice: -refund.amount,
        amount: -refund.amount,
      })),
    ];
  }

  interface InvoiceRow {
    id: string;
    session_id: string;
    payer_user_id: string;
    payee_user_id: string;
    kind: SessionKind;
    currency: string;
    rate: bigint;
    minutes: number;
    charged: bigint;
    settle_hash: string;
    created_at: Date;
  }

  async function toInvoice(tx: Tx, row: InvoiceRow): Promise<Invoice> {
    const lines = await invoiceLines(tx, {
      sessionId: row.session_id,
      minutes: row.minutes,
      rate: row.rate,
      charged: row.charged,
      kind: row.kind,
    });
    return {
      invoiceId: row.id,
      sessionId: row.session_id,
      payerUserId: row.payer_user_id,
      payeeUserId: row.payee_user_id,
      kind: row.kind,
      currency: row.currency,
      lines,
      total: lines.reduce((total, line) => total + line.amount, 0n),
      createdAt: row.created_at,
    };
  }

  const charges = createChargeStore(sql, platform);

  return {
    chargeBatch: charges.chargeBatch,

    async walletBalances(userId, currency, now) {
      // One statement, so balance and holds come from the same snapshot.
      const [account] = await sql<{ balance: bigint; held: bigint }[]>`
        select a.balance, ${heldSql(sql`a.id`, now)} as held
        from billing.accounts a
        where a.kind = 'wallet' and a.owner_id = ${userId} and a.currency = ${currency}`;
      return account ?? { balance: 0n, held: 0n };
    },

    async listEntries(input) {
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
      return rows.map((row) => ({
        entryId: row.id,
        transactionId: row.transaction_id,
        type: row.type,
        currency: row.currency,
        amount: row.amount,
        balanceAfter: row.balance_after,
        reference: row.reference,
        createdAt: row.created_at,
      }));
    },

    createTopUp(key, input) {
      return idempotent(key, async (tx) => {
        const paymentId = newId();
        const [row] = await tx<PaymentRow[]>`
          insert into billing.payments (id, user_id, currency, amount, status, provider, provider_reference, created_at, updated_at)
          values (${paymentId}, ${input.userId}, ${input.currency}, ${input.amount}, 'pending', ${input.provider},
                  ${`parley_${paymentId}`}, ${input.now}, ${input.now})
          returning *`;
        return toPayment(row!);
      });
    },

    /**
     * Applies one provider event. The payment row is locked first, so every event for one
     * payment (replays or not) serialises; the event id is then claimed (a replay finds it
     * claimed) and only the first success credits. A succeeded payment is final.
     */
    confirmPayment(input) {
      return sql.begin(async (tx) => {
        const [found] = input.paymentId
          ? await tx<{ id: string }[]>`
              select id from billing.payments where id = ${input.paymentId} and provider = ${input.provider}`
          : await tx<{ id: string }[]>`
              select id from billing.payments
              where provider = ${input.provider} and provider_reference = ${input.providerReference}`;
        if (!found) throw notFound("PAYMENT_NOT_FOUND", "no payment matches this provider event");
        // Payment row first: the event's foreign key would otherwise share-lock it and two events deadlock.
        const [payment] = await tx<
          PaymentRow[]
        >`select * from billing.payments where id = ${found.id} for update`;
        const claimed = await tx`
          insert into billing.payment_events (provider, provider_event_id, payment_id, status, received_at)
          values (${input.provider}, ${input.providerEventId}, ${found.id}, ${input.status}, ${input.now})
          on conflict (provider, provider_event_id) do nothing
          returning 1`;
        if (claimed.length === 0 || payment!.status === "succeeded" || input.status === "pending") {
          return { payment: toPayment(payment!), credited: false };
        }
        if (input.status !== "succeeded") {
          if (payment!.status !== "pending") return { payment: toPayment(payment!), credited: false };
          const [updated] = await tx<PaymentRow[]>`
            update billing.payments set status = ${input.status}, updated_at = ${input.now},
              provider_payment_id = coalesce(${input.providerPaymentId || null}, provider_payment_id)
            where id = ${found.id} returning *`;
          return { payment: toPayment(updated!), credited: false };
        }
        if (input.amount !== payment!.amount || input.currency !== payment!.currency) {
          throw failedPrecondition(
            "PAYMENT_AMOUNT_MISMATCH",
            `provider reports ${input.amount} ${input.currency}, payment is ${payment!.amount} ${payment!.currency}`,
          );
        }
        // A late success after a failure or cancellation is still money received: credit it.
        const wallet = await lockWallet(tx, payment!.user_id, payment!.currency);
        const clearing = await platform.single(tx, "clearing", payment!.currency);
        const transactionId = newId();
        const balanceAfter = await addToWallet(tx, wallet.id, payment!.amount);
        await post(tx, {
          transactionId,
          type: "top_up",
          currency: payment!.currency,
          reference: `payment:${payment!.id}`,
          at: input.now,
          lines: [
            { accountId: clearing, amount: -payment!.amount, balanceAfter: null },
            { accountId: wallet.id, amount: payment!.amount, balanceAfter },
          ],
        });
        const [updated] = await tx<PaymentRow[]>`
          update billing.payments set status = 'succeeded', updated_at = ${input.now},
            credit_transaction_id = ${transactionId},
            provider_payment_id = coalesce(${input.providerPaymentId || null}, provider_payment_id)
          where id = ${found.id} returning *`;
        return { payment: toPayment(updated!), credited: true };
      }) as Promise<{ payment: Payment; credited: boolean }>;
    },

    grantCredit(key, input) {
      return idempotent(key, async (tx) => {
        const wallet = await lockWallet(tx, input.userId, input.currency);
        const promotions = await platform.single(tx, "promotions", input.currency);
        const transactionId = newId();
        const balanceAfter = await addToWallet(tx, wallet.id, input.amount);
        await post(tx, {
          transactionId,
          type: "promotion",
          currency: input.currency,
          reference: `grant:${transactionId}`,
          at: input.now,
          lines: [
            { accountId: promotions, amount: -input.amount, balanceAfter: null },
            { accountId: wallet.id, amount: input.amount, balanceAfter },
          ],
        });
        return { transactionId, balance: balanceAfter };
      });
    },

    placeHold(key, input) {
      return idempotent(key, async (tx) => {
        const wallet = await lockWallet(tx, input.userId, input.currency);
        const available = wallet.balance - (await heldOn(tx, wallet.id, input.now));
        if (available < input.amount) throw insufficientFunds(input.amount - available, input.currency);
        const [row] = await tx<HoldRow[]>`
          insert into billing.holds (id, account_id, user_id, currency, amount, status, reference, expires_at, created_at)
          values (${newId()}, ${wallet.id}, ${input.userId}, ${input.currency}, ${input.amount}, 'open',
                  ${input.reference}, ${input.expiresAt}, ${input.now})
          returning *`;
        return toHold(row!, input.now);
      });
    },

    extendHold(key, input) {
      return idempotent(key, async (tx) => {
        await lockOpenHold(tx, input.holdId, input.now);
        const [row] = await tx<HoldRow[]>`
          update billing.holds set expires_at = greatest(expires_at, ${input.expiresAt})
          where id = ${input.holdId} returning *`;
        return toHold(row!, input.now);
      });
    },

    captureHold(key, input) {
      return idempotent(key, async (tx) => {
        const { wallet, hold } = await lockOpenHold(tx, input.holdId, input.now);
        const remaining = hold.amount - hold.captured;
        if (input.amount > remaining) {
          throw failedPrecondition("HOLD_AMOUNT_EXCEEDED", `only ${remaining} remains on hold ${hold.id}`, {
            metadata: { remaining_minor: remaining.toString() },
          });
        }
        const [updated] = await tx<HoldRow[]>`
          update billing.holds set captured = captured + ${input.amount},
            status = case when captured + ${input.amount} = amount then 'captured' else 'open' end,
            resolved_at = case when captured + ${input.amount} = amount then ${input.now}::timestamptz end
          where id = ${hold.id} returning *`;
        const transactionId = newId();
        const payerAfter = await addToWallet(tx, wallet.id, -input.amount);
        const earnings = input.amount - input.commission;
        const payee = await addToEarnings(tx, input.payeeUserId, hold.currency, earnings);
        const revenue = await platform.revenue(tx, hold.currency);
        await post(tx, {
          transactionId,
          type: "hold_capture",
          currency: hold.currency,
          reference: hold.reference,
          at: input.now,
          lines: [
            { accountId: wallet.id, amount: -input.amount, balanceAfter: payerAfter },
            { accountId: payee.id, amount: earnings, balanceAfter: payee.balance },
            { accountId: revenue, amount: input.commission, balanceAfter: null },
          ],
        });
        return { hold: toHold(updated!, input.now), transactionId };
      });
    },

    releaseHold(key, input) {
      return idempotent(key, async (tx) => {
        await lockOpenHold(tx, input.holdId, input.now);
        const [row] = await tx<HoldRow[]>`
          update billing.holds set status = 'released', resolved_at = ${input.now}
          where id = ${input.holdId} returning *`;
        return toHold(row!, input.now);
      });
    },

    /**
     * Refunds session charges: payer credited, earnings and commission reversed in the
     * proportion still unreversed. The payer's wallet lock serialises refunds of a session.
     */
    refund(key, input) {
      return idempotent(key, async (tx) => {
        const [session] = await tx<{ payer_user_id: string; payee_user_id: string; currency: string }[]>`
          select payer_user_id, payee_user_id, currency from billing.charges
          where session_id = ${input.sessionId} limit 1`;
        if (!session)
          throw notFound("SESSION_CHARGES_NOT_FOUND", `session ${input.sessionId} has no charges`);
        const wallet = await lockWallet(tx, session.payer_user_id, session.currency);
        const [totals] = await tx<
          { charged: bigint; commission: bigint; refunded: bigint; reversed: bigint }[]
        >`
          select
            (select coalesce(sum(amount), 0)::int8 from billing.charges where session_id = ${input.sessionId}) as charged,
            (select coalesce(sum(commission), 0)::int8 from billing.charges where session_id = ${input.sessionId}) as commission,
            (select coalesce(sum(amount), 0)::int8 from billing.refunds where session_id = ${input.sessionId}) as refunded,
            (select coalesce(sum(commission_reversed), 0)::int8 from billing.refunds where session_id = ${input.sessionId}) as reversed`;
        const refundable = totals!.charged - totals!.refunded;
        if (input.amount && input.amount.currency !== session.currency)
          throw invalidArgument(
            "CURRENCY_MISMATCH",
            `this session was charged in ${session.currency}, not ${input.amount.currency}`,
            { fieldViolations: [{ field: "amount.currency", description: `must be ${session.currency}` }] },
          );
        const amount = input.amount?.minor ?? refundable;
        if (amount <= 0n || amount > refundable) {
          throw failedPrecondition(
            "REFUND_EXCEEDS_CHARGED",
            `at most ${refundable} ${session.currency} of this session can be refunded`,
            { metadata: { refundable_minor: refundable.toString(), currency: session.currency } },
          );
        }
        const commissionLeft = totals!.commission - totals!.reversed;
        const commissionReversed = input.share(amount, commissionLeft, refundable);
        const earningsReversed = amount - commissionReversed;
        const transactionId = newId();
        const refundId = newId();
        const payerAfter = await addToWallet(tx, wallet.id, amount);
        const payee = await subtractFromEarnings(
          tx,
          session.payee_user_id,
          session.currency,
          earningsReversed,
        );
        const revenue = await platform.revenue(tx, session.currency);
        await post(tx, {
          transactionId,
          type: "refund",
          currency: session.currency,
          reference: `refund:${refundId}`,
          at: input.now,
          lines: [
            { accountId: wallet.id, amount, balanceAfter: payerAfter },
            { accountId: payee.id, amount: -earningsReversed, balanceAfter: payee.balance },
            { accountId: revenue, amount: -commissionReversed, balanceAfter: null },
          ],
        });
        await tx`
          insert into billing.refunds (id, session_id, payer_user_id, payee_user_id, currency, amount,
            earnings_reversed, commission_reversed, reason, note, transaction_id, created_at)
          values (${refundId}, ${input.sessionId}, ${session.payer_user_id}, ${session.payee_user_id}, ${session.currency},
            ${amount}, ${earningsReversed}, ${commissionReversed}, ${input.reason}, ${input.note}, ${transactionId}, ${input.now})`;
        return {
          refundId,
          sessionId: input.sessionId,
          payerUserId: session.payer_user_id,
          currency: session.currency,
          amount,
          reason: input.reason,
          note: input.note,
          transactionId,
          createdAt: input.now,
        };
      });
    },

    /**
     * Releases what remains of the session's hold and writes its invoice, once: the unique
     * session_id makes a second settlement read the first (or refuse other parameters).
     */
    settleSession(input) {
      return sql.begin(async (tx) => {
        const claimed = await tx<InvoiceRow[]>`
          insert into billing.invoices (id, session_id, payer_user_id, payee_user_id, kind, currency, rate, minutes, charged, settle_hash, created_at)
          values (${newId()}, ${input.sessionId}, ${input.payerUserId}, ${input.payeeUserId}, ${input.kind},
                  ${input.currency}, ${input.rate}, 0, 0, ${input.settleHash}, ${input.now})
          on conflict (session_id) do nothing
          returning *`;
        if (claimed.length === 0) {
          const [existing] = await tx<InvoiceRow[]>`
            select * from billing.invoices where session_id = ${input.sessionId}`;
          if (existing!.settle_hash !== input.settleHash) {
            throw alreadyExists(
              "IDEMPOTENCY_KEY_REUSED",
              "this session was already settled with different parameters",
            );
          }
          return toInvoice(tx, existing!);
        }
        // The payer's wallet lock orders settlement against this session's charges still in
        // flight: one that locked it first is counted below, one that comes later is refused.
        await lockWallet(tx, input.payerUserId, input.currency);
        if (input.holdId) {
          const owner = await holdOwner(tx, input.holdId);
          if (owner.userId !== input.payerUserId || owner.currency !== input.currency)
            throw notFound("HOLD_NOT_FOUND", `no hold ${input.holdId} on this wallet`);
          const hold = (await lockHold(tx, input.holdId))!;
          const view = toHold(hold, input.now);
          if (view.status === "open") {
            await tx`update billing.holds set status = 'released', resolved_at = ${input.now} where id = ${hold.id}`;
          } else if (view.status === "expired" && hold.status === "open") {
            await markExpired(tx, hold.id, input.now);
          }
        }
        const [row] = await tx<InvoiceRow[]>`
          update billing.invoices set
            minutes = (select count(*) from billing.charges where session_id = ${input.sessionId}),
            charged = (select coalesce(sum(amount), 0) from billing.charges where session_id = ${input.sessionId})
          where id = ${claimed[0]!.id} returning *`;
        return toInvoice(tx, row!);
      }) as Promise<Invoice>;
    },

    async listInvoices(input) {
      const rows = await sql<InvoiceRow[]>`
        select * from billing.invoices
        where (payer_user_id = ${input.userId} or payee_user_id = ${input.userId})
          and id < ${input.beforeInvoiceId ?? "ffffffff-ffff-ffff-ffff-ffffffffffff"}
        order by id desc limit ${input.limit}`;
      return Promise.all(rows.map((row) => toInvoice(reader, row)));
    },

    async getInvoice(invoiceId) {
      const [row] = await sql<InvoiceRow[]>`select * from billing.invoices where id = ${invoiceId}`;
      return row ? toInvoice(reader, row) : undefined;
    },

    async earnings(expertUserId, currency) {
      const [row] = await sql<{ balance: bigint; earned: bigint; refunded: bigint }[]>`
        select a.balance,
          coalesce((select sum(amount) from billing.entries where account_id = a.id and amount > 0), 0)::int8 as earned,
          coalesce((select -sum(amount) from billing.entries where account_id = a.id and amount < 0), 0)::int8 as refunded
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

    /** Marks open holds past their expiry as expired; returns how many. Available never depended on it. */
    async expireHolds(now) {
      const rows = await sql`
        update billing.holds set status = 'expired', resolved_at = ${now}
        where status = 'open' and expires_at <= ${now}
        returning id`;
      return rows.length;
    },
  };
}
