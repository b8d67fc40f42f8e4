import { isPgError } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { type ChargeItem, type ChargeReceipt, inWalletOrder } from "../domain/charges";
import { array, type PlatformAccounts, REVENUE_SHARDS, type Sql } from "./sql";

/** A plain minute to charge: the item, its journal transaction and the clock of its call. */
export interface PlainMinute {
  item: ChargeItem;
  transactionId: string;
  now: Date;
}

/** A database check that refused a plain minute: the planner decides what happened instead. */
const PLAIN_REFUSALS = [
  ["23505", "charges_session_minute"],
  ["23514", "accounts_held_within_balance"],
  ["23514", "accounts_user_balance_non_negative"],
  ["23514", "charges_session_not_settled"],
] as const;

const isPlainRefusal = (error: unknown) =>
  PLAIN_REFUSALS.some(([code, constraint]) => isPgError(error, code, constraint));

/** Statements a large batch is split into, run at once (a batch-sized statement keeps one core busy). */
const PARALLEL_STATEMENTS = 2;
/** Batches this large or larger are split. */
const PARALLEL_FROM = 200;

/**
 * Minutes in at most `parts` parts such that no payer's wallet and no payee is in two parts: the
 * connected groups of payers and payees (through the minutes between them) are dealt out, largest
 * first, to the smallest part so far. Each part keeps the minutes' order.
 */
export function disjointParts<
  T extends { item: { payerUserId: string; payeeUserId: string; currency: string } },
>(minutes: readonly T[], parts: number): T[][] {
  if (parts <= 1 || minutes.length <= 1) return [[...minutes]];
  // Payers' wallets and payees as small integers (maps keyed by the ids themselves, whose hashes
  // strings keep, rather than by new concatenated keys), then union-find over them.
  const keys = new Map<string, Map<string, number>>();
  let count = 0;
  const idOf = (side: "payer" | "payee", user: string, currency: string) => {
    const scope = `${side}\u0000${currency}`;
    let ids = keys.get(scope);
    if (!ids) {
      ids = new Map();
      keys.set(scope, ids);
    }
    let id = ids.get(user);
    if (id === undefined) {
      id = count++;
      ids.set(user, id);
    }
    return id;
  };
  const payers = minutes.map(({ item }) => idOf("payer", item.payerUserId, item.currency));
  const payees = minutes.map(({ item }) => idOf("payee", item.payeeUserId, item.currency));
  const parent = Int32Array.from({ length: count }, (_, id) => id);
  const find = (id: number): number => {
    let root = id;
    while (parent[root] !== root) root = parent[root]!;
    for (let at = id; at !== root; ) {
      const next = parent[at]!;
      parent[at] = root;
      at = next;
    }
    return root;
  };
  for (const [index, payer] of payers.entries()) {
    const [a, b] = [find(payer), find(payees[index]!)];
    if (a !== b) parent[a] = b;
  }
  const groups = new Map<number, number[]>();
  for (const [index, payer] of payers.entries()) {
    const root = find(payer);
    const group = groups.get(root);
    if (group) group.push(index);
    else groups.set(root, [index]);
  }
  const bins = Array.from({ length: Math.min(parts, groups.size) }, () => [] as number[]);
  for (const group of [...groups.values()].sort((a, b) => b.length - a.length))
    bins.reduce((smallest, bin) => (bin.length < smallest.length ? bin : smallest)).push(...group);
  return bins.map((bin) => bin.sort((a, b) => a - b).map((index) => minutes[index]!));
}

/**
 * Charges plain minutes with one autocommit statement per round trip, PARALLEL_STATEMENTS at once
 * (one per core of a small database): calls that arrive while they are in flight go together in
 * the next one (a lone call goes at once), so concurrent minutes share a statement's fixed cost.
 * Concurrent statements, of this instance or others, lock their wallets
 * in id order, as batches do, so they never deadlock. Nothing waits inside a transaction: each statement
 * locks, writes and commits on the server in one go.
 *
 * The statement locks the payers' wallets in id order, keeps the items that are plain, and
 * applies them as planCharges would, one after another per wallet in the planner's order:
 * each wallet pays the sum of its minutes, each minute's balance_after chains back from the
 * new balance, each payee's earnings move once. The conditions read the statement's snapshot,
 * which may be older than the locks; each can only have become less favourable since (a hold
 * past expiry stays so, a resolved hold never reopens). Funds are read from the wallet row as
 * locked (the latest version: balance and `held`, which counts every open hold, all live here):
 * a wallet pays the leading run of its plain minutes, in that order, that its available balance
 * covers in full; its other minutes come back undefined, for the planner to decide after them
 * (so a wallet's minutes are still decided one after another in the planner's order). Whatever
 * else may have changed is refused by the database itself: a minute's unique key (charged
 * meanwhile), the settled-session trigger (it reads the invoices when the statement ends), and
 * `held ≤ balance` as the backstop. A refusal fails the whole statement; its minutes are then
 * tried again in halves, down to the refused ones, which come back undefined for the planner.
 */
export function createPlainCharges(sql: Sql, platform: PlatformAccounts, maxPerStatement = 1000) {
  async function statement(minutes: readonly PlainMinute[]): Promise<Map<string, ChargeReceipt>> {
    const ordered = inWalletOrder(minutes, (minute) => minute.item);
    let latest = 0;
    for (const minute of ordered) latest = Math.max(latest, minute.now.getTime());
    const now = new Date(latest);
    // Per statement rather than per minute: the currencies' revenue shards (each minute names one
    // at random by its place in that list) and an id for each payee's earnings account, in case
    // the statement creates it. Per minute they were two uuids of a minute's ≈ 300 bytes of
    // parameters, sent, parsed and thrown away for every minute of every batch.
    const revenues: string[] = [];
    const revenueAt = new Map<string, number>();
    const earningsIds = new Map<string, Map<string, string>>();
    for (const { item } of ordered) {
      let payees = earningsIds.get(item.currency);
      if (!payees) {
        payees = new Map();
        earningsIds.set(item.currency, payees);
        revenueAt.set(item.currency, revenues.length);
        revenues.push(...platform.cachedRevenueShards(item.currency)!);
      }
      if (!payees.has(item.payeeUserId)) payees.set(item.payeeUserId, newId());
    }
    const payees = [...earningsIds].flatMap(([currency, ids]) =>
      [...ids].map(([payee, id]) => ({ payee, currency, id })),
    );
    const column = <T extends string | bigint | number | null>(pick: (minute: PlainMinute) => T) =>
      array(ordered.map(pick));
    const rows = await sql<{ tx: string; balance_after: bigint; held: bigint }[]>`
      with i as (
        select * from unnest(${column((m) => m.transactionId)}::uuid[], ${column((m) => m.item.payerUserId)}::text[],
          ${column((m) => m.item.payeeUserId)}::text[], ${column((m) => m.item.currency)}::char(3)[],
          ${column((m) => m.item.sessionId)}::text[], ${column((m) => m.item.minute)}::int8[],
          ${column((m) => m.item.amount)}::int8[], ${column((m) => m.item.commission)}::int8[],
          ${column((m) => m.item.holdId || null)}::uuid[],
          ${column((m) => revenueAt.get(m.item.currency)! + 1 + Math.floor(Math.random() * REVENUE_SHARDS))}::int4[],
          ${column((m) => m.item.requestHash)}::text[])
          with ordinality as i(tx, payer, payee, currency, session, minute, amount, commission, hold, revenue_at, hash,
            ord)
      ), wallet as (
        select a.id, a.owner_id, a.currency, a.balance, a.held from billing.accounts a
        where a.kind = 'wallet' and (a.owner_id, a.currency) in (select payer, currency from i)
          and a.frozen_at is null
        order by a.id
        for update
      ), candidate as materialized (
        select i.*, w.id as wallet, w.balance, w.held,
          not exists (select 1 from billing.charges c where c.session_id = i.session and c.minute = i.minute)
          and not exists (
            select 1 from billing.holds h where h.account_id = w.id and h.status = 'open' and h.expires_at <= ${now})
          and (i.hold is null or exists (
            select 1 from billing.holds h where h.id = i.hold and h.account_id = w.id and h.status <> 'open'))
          as ok
        from i join wallet w on w.owner_id = i.payer and w.currency = i.currency
      ), plain as (
        -- Each wallet's leading run of plain minutes that its available balance (as locked) pays in
        -- full, in the planner's order; the rest of the wallet's minutes go to the planner after them.
        -- A minute's balance_after is the locked balance less the run up to it.
        select r.*, (r.balance - r.run_total)::int8 as balance_after from (
          select c.*, bool_and(c.ok) over run as run_plain, sum(c.amount) over run as run_total
          from candidate c
          window run as (partition by c.wallet order by c.ord)
        ) r
        where r.run_plain and r.run_total <= r.balance - r.held
      ), earned as (
        -- Data-modifying CTEs run last-declared first: these two (declared first) run last, so the
        -- payees' earnings rows, which concurrent statements paying the same experts wait for, are
        -- locked (in payee order) only for the statement's tail.
        insert into billing.accounts (id, kind, owner_id, currency, balance)
        select n.id, 'earnings', p.payee, p.currency, sum(p.amount - p.commission)::int8
        from plain p
        join unnest(${array(payees.map((payee) => payee.payee))}::text[], ${array(payees.map((payee) => payee.currency))}::char(3)[],
          ${array(payees.map((payee) => payee.id))}::uuid[]) as n(payee, currency, id)
          on n.payee = p.payee and n.currency = p.currency
        group by p.payee, p.currency, n.id order by p.payee, p.currency
        on conflict (kind, owner_id, currency) do update set balance = accounts.balance + excluded.balance
        returning id, owner_id, currency, balance
      ), earning as (
        -- Each payee's row as written, then its minutes latest first, in one window (no join):
        -- a minute's earnings balance_after is the new balance less what later minutes added.
        insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
        select tx, account, amount, balance_after, ${now}::timestamptz from (
          select x.ord, x.tx, x.amount, x.minute_line,
            first_value(x.account) over payee as account,
            first_value(x.balance) over payee - coalesce(sum(x.amount) over (payee rows between unbounded preceding
              and 1 preceding), 0) as balance_after
          from (
            select e.owner_id as payee, e.currency, false as minute_line, null::int8 as ord, null::uuid as tx,
              0::int8 as amount, e.id as account, e.balance
            from earned e
            union all
            select p.payee, p.currency, true, p.ord, p.tx, p.amount - p.commission, null, null from plain p
          ) x
          window payee as (partition by x.payee, x.currency order by x.minute_line, x.ord desc)
        ) line
        where minute_line
        order by ord
      ), paid as (
        update billing.accounts a set balance = a.balance - s.total
        from (select wallet, sum(amount)::int8 as total from plain group by wallet) s
        where a.id = s.wallet
      ), posted as (
        insert into billing.transactions (id, type, currency, reference, created_at)
        select tx, 'session_charge', currency, 'session:' || session, ${now}::timestamptz from plain order by ord
      ), lines as (
        -- The payers' and the platform's lines (the payees' are above).
        insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
        select tx, account, amount, balance_after, ${now}::timestamptz from (
          select p.ord, 1 as leg, p.tx, p.wallet as account, -p.amount as amount, p.balance_after from plain p
          union all
          select p.ord, 3, p.tx, (${array(revenues)}::uuid[])[p.revenue_at], p.commission, null from plain p
        ) line order by ord, leg
      ), receipts as (
        insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency,
          amount, commission, created_at, request_hash, balance_after, available_after, hold_remaining_after)
        select tx, session, minute, payer, payee, currency, amount, commission, ${now}::timestamptz, hash,
          balance_after, balance_after - held, 0
        from plain order by ord
      )
      select tx, balance_after, held from plain`;
    const byTransaction = new Map(minutes.map((minute) => [minute.transactionId, minute]));
    return new Map(
      rows.map((row) => {
        const { item } = byTransaction.get(row.tx)!;
        return [
          row.tx,
          {
            transactionId: row.tx,
            sessionId: item.sessionId,
            minute: item.minute,
            currency: item.currency,
            amount: item.amount,
            requestHash: item.requestHash,
            balanceAfter: row.balance_after,
            availableAfter: row.balance_after - row.held,
            holdRemainingAfter: 0n,
          },
        ];
      }),
    );
  }

  /** One statement for these minutes; after a refusal, each half again, down to the refused minutes. */
  async function settle(minutes: PlainMinute[]): Promise<(ChargeReceipt | undefined)[]> {
    try {
      const receipts = await statement(minutes);
      return minutes.map((minute) => receipts.get(minute.transactionId));
    } catch (error) {
      if (!isPlainRefusal(error)) throw error;
      if (minutes.length === 1) return [undefined];
      const half = Math.ceil(minutes.length / 2);
      const [first, second] = await Promise.all([
        settle(minutes.slice(0, half)),
        settle(minutes.slice(half)),
      ]);
      return [...first, ...second];
    }
  }

  interface Waiting {
    minute: PlainMinute;
    resolve: (receipt: ChargeReceipt | undefined) => void;
    reject: (error: unknown) => void;
  }
  const waiting: Waiting[] = [];
  let senders = 0;

  /** One lane: statements one after another while minutes wait (PARALLEL_STATEMENTS lanes at most). */
  async function send(): Promise<void> {
    senders++;
    while (waiting.length > 0) {
      const taken = waiting.splice(0, maxPerStatement);
      // A minute named twice goes once; its twin is a replay the planner answers.
      const seen = new Set<string>();
      const unique: Waiting[] = [];
      for (const entry of taken) {
        const key = `${entry.minute.item.sessionId}\u0000${entry.minute.item.minute}`;
        if (seen.has(key)) entry.resolve(undefined);
        else {
          seen.add(key);
          unique.push(entry);
        }
      }
      try {
        const receipts = await settle(unique.map((entry) => entry.minute));
        for (const [index, entry] of unique.entries()) entry.resolve(receipts[index]);
      } catch (error) {
        for (const entry of unique) entry.reject(error);
      }
    }
    senders--;
  }

  return {
    /**
     * A batch's minutes (each key at most once) in statements of their own: the receipts of
     * those charged, undefined for the rest. A large batch is split into PARALLEL_STATEMENTS
     * parts that share no payer wallet and no payee (see disjointParts), run at once on their own
     * connections: they never wait for each other's rows, and the database works on them side by
     * side. When the database refuses any minute of a part (a minute charged meanwhile, a session
     * settled meanwhile: both rare), nothing of that part is written and its minutes come back
     * undefined, for the planner to decide under lock.
     */
    async chargeMany(minutes: readonly PlainMinute[]): Promise<(ChargeReceipt | undefined)[]> {
      if (
        minutes.length === 0 ||
        !minutes.every((minute) => platform.cachedRevenueShards(minute.item.currency))
      )
        return minutes.map(() => undefined);
      const receipts = new Map<string, ChargeReceipt>();
      await Promise.all(
        disjointParts(minutes, minutes.length >= PARALLEL_FROM ? PARALLEL_STATEMENTS : 1).map(
          async (part) => {
            try {
              for (const [transactionId, receipt] of await statement(part))
                receipts.set(transactionId, receipt);
            } catch (error) {
              if (!isPlainRefusal(error)) throw error;
            }
          },
        ),
      );
      return minutes.map((minute) => receipts.get(minute.transactionId));
    },

    /** The minute's receipt, or undefined (nothing written) when it is not plain or the database refused it. */
    charge(minute: PlainMinute): Promise<ChargeReceipt | undefined> {
      if (!platform.cachedRevenueShards(minute.item.currency)) return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        waiting.push({ minute, resolve, reject });
        if (senders < PARALLEL_STATEMENTS) void send();
      });
    },
  };
}
