import { newId } from "@parley/kit/ids";
import { replayOf } from "../domain/idempotency";
import type { Posting, WalletPlan } from "../domain/ledger";
import type { IdempotencyKey, WalletChanges, WalletSnapshot } from "../domain/model";
import { decodeResponse, encodeResponse } from "./codec";
import { type HoldRow, type WalletRow, walletSnapshots } from "./rows";
import { array, type PlatformAccounts, pipelined, type Sql, type Tx } from "./sql";

/**
 * The ledger's shared moves: locking wallets into snapshots, and writing what plans decided
 * (wallet balances, holds, postings). Locks are always taken in one order: wallets (several
 * in id order), then holds, then earnings (several in owner order), so moves never deadlock.
 */

/** The open holds of locked wallets, and any other holds of theirs a move names. */
export function holdsOf(tx: Tx, walletIds: readonly string[], named: readonly string[] = []) {
  return tx<HoldRow[]>`
    select h.* from billing.holds h
    where h.status = 'open' and h.account_id = any(${array(walletIds)}::uuid[])
    union
    select h.* from billing.holds h
    where h.id = any(${array(named)}::uuid[]) and h.account_id = any(${array(walletIds)}::uuid[])`;
}

/** A wallet and its open holds, without locks, in one statement (so from one snapshot). */
export async function readWallet(db: Sql | Tx, userId: string, currency: string): Promise<WalletSnapshot> {
  const rows = await (db as Tx)<
    (HoldRow & { wallet_id: string; balance: bigint; frozen: boolean; hold_id: string | null })[]
  >`
    select h.*, a.id as wallet_id, a.balance, a.frozen_at is not null as frozen, h.id as hold_id
    from billing.accounts a
    left join billing.holds h on h.account_id = a.id and h.status = 'open'
    where a.kind = 'wallet' and a.owner_id = ${userId} and a.currency = ${currency}`;
  const [first] = rows;
  if (!first) return { accountId: undefined, userId, currency, balance: 0n, holds: [] };
  return walletSnapshots(
    [{ id: first.wallet_id, owner_id: userId, currency, balance: first.balance, frozen: first.frozen }],
    rows.filter((row) => row.hold_id !== null),
  )[0]!;
}

/**
 * Locks a user's wallet (creating it first when `create`) and reads its holds in a later
 * statement, so they include every hold committed before the lock was granted. A missing
 * wallet that is not created reads as an empty one without an account.
 */
export async function lockWallet(
  tx: Tx,
  target: { userId: string; currency: string },
  options: { create: boolean; holdIds?: readonly string[] },
): Promise<WalletSnapshot> {
  let [wallet] = await tx<WalletRow[]>`
    select id, owner_id, currency, balance, frozen_at is not null as frozen from billing.accounts
    where kind = 'wallet' and owner_id = ${target.userId} and currency = ${target.currency}
    for update`;
  if (!wallet && options.create) {
    [wallet] = await tx<WalletRow[]>`
      insert into billing.accounts (id, kind, owner_id, currency)
      values (${newId()}, 'wallet', ${target.userId}, ${target.currency})
      on conflict (kind, owner_id, currency) do update set kind = excluded.kind
      returning id, owner_id, currency, balance, frozen_at is not null as frozen`;
  }
  if (!wallet)
    return { accountId: undefined, userId: target.userId, currency: target.currency, balance: 0n, holds: [] };
  const holds = await holdsOf(tx, [wallet.id], options.holdIds);
  return walletSnapshots([wallet], holds)[0]!;
}

/**
 * New balances of locked wallets with what their open holds reserve, new states of their holds,
 * and the holds they place.
 */
export function walletWrites(tx: Tx, wallets: readonly WalletChanges[]) {
  const holds = wallets.flatMap((wallet) => wallet.holds);
  const placed = wallets.flatMap((wallet) => wallet.placed);
  return [
    tx`
      update billing.accounts a set balance = w.balance, held = w.held
      from unnest(${array(wallets.map((w) => w.accountId))}::uuid[], ${array(wallets.map((w) => w.balance))}::int8[],
        ${array(wallets.map((w) => w.openHeld))}::int8[])
        as w(id, balance, held)
      where a.id = w.id`,
    ...(holds.length > 0
      ? [
          tx`
            update billing.holds h set captured = c.captured, status = c.status, expires_at = c.expires_at,
              resolved_at = c.resolved_at
            from unnest(${array(holds.map((c) => c.holdId))}::uuid[], ${array(holds.map((c) => c.captured))}::int8[],
              ${array(holds.map((c) => c.status))}::text[], ${array(holds.map((c) => c.expiresAt))}::timestamptz[],
              ${array(holds.map((c) => c.resolvedAt))}::timestamptz[])
              as c(id, captured, status, expires_at, resolved_at)
            where h.id = c.id`,
        ]
      : []),
    ...(placed.length > 0
      ? [
          tx`
            insert into billing.holds (id, account_id, user_id, currency, amount, captured, status, reference,
              expires_at, created_at)
            select * from unnest(${array(placed.map((h) => h.holdId))}::uuid[],
              ${array(placed.map((h) => h.accountId))}::uuid[], ${array(placed.map((h) => h.userId))}::text[],
              ${array(placed.map((h) => h.currency))}::text[], ${array(placed.map((h) => h.amount))}::int8[],
              ${array(placed.map((h) => h.captured))}::int8[], ${array(placed.map((h) => h.status))}::text[],
              ${array(placed.map((h) => h.reference))}::text[], ${array(placed.map((h) => h.expiresAt))}::timestamptz[],
              ${array(placed.map((h) => h.createdAt))}::timestamptz[])`,
        ]
      : []),
  ];
}

/**
 * Writes postings in bulk, in one statement: their transactions and every line as an entry in
 * posting order (the database requires a session charge's entries in its own statement).
 * Earnings lines move each payee's earnings row once, by their sum, in payee order (created on
 * first earning); their entries' balance_after chain back from the new balance.
 * Revenue lines go to a random revenue shard, clearing and promotions to their account.
 */
export async function postingWrites(
  tx: Tx,
  postings: readonly Posting[],
  at: Date,
  platform: PlatformAccounts,
) {
  const lines = postings.flatMap((entry) => entry.lines.map((line) => ({ posting: entry, line })));
  const accounts: (string | null)[] = [];
  for (const { posting, line } of lines) {
    const { account } = line;
    accounts.push(
      account.kind === "wallet"
        ? account.accountId
        : account.kind === "earnings"
          ? null
          : account.kind === "revenue"
            ? await platform.revenue(tx, posting.currency)
            : await platform.single(tx, account.kind, posting.currency),
    );
  }
  const totals = new Map<string, { owner: string; currency: string; total: bigint }>();
  for (const { posting, line } of lines) {
    if (line.account.kind !== "earnings") continue;
    const key = `${line.account.userId}\u0000${posting.currency}`;
    const entry = totals.get(key) ?? { owner: line.account.userId, currency: posting.currency, total: 0n };
    entry.total += line.amount;
    totals.set(key, entry);
  }
  const payees = [...totals.values()].sort((a, b) =>
    a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.currency < b.currency ? -1 : 1,
  );
  // An array, not the query itself: an async function would run a query it returned.
  return [
    tx`
      with journal as (
        insert into billing.transactions (id, type, currency, reference, created_at)
        select id, type, currency, reference, ${at}::timestamptz
        from unnest(${array(postings.map((p) => p.transactionId))}::uuid[], ${array(postings.map((p) => p.type))}::text[],
          ${array(postings.map((p) => p.currency))}::text[], ${array(postings.map((p) => p.reference))}::text[])
          as t(id, type, currency, reference)
      ), lines as (
        select * from unnest(${array(lines.map(({ posting }) => posting.transactionId))}::uuid[],
          ${array(accounts)}::uuid[],
          ${array(lines.map(({ line }) => (line.account.kind === "earnings" ? line.account.userId : null)))}::text[],
          ${array(lines.map(({ posting }) => posting.currency))}::text[],
          ${array(lines.map(({ line }) => line.amount))}::int8[],
          ${array(lines.map(({ line }) => line.balanceAfter))}::int8[])
          with ordinality as l(tx, account, payee, currency, amount, balance_after, ord)
      ), totals as (
        select * from unnest(${array(payees.map(() => newId()))}::uuid[], ${array(payees.map((p) => p.owner))}::text[],
          ${array(payees.map((p) => p.currency))}::text[], ${array(payees.map((p) => p.total))}::int8[])
          with ordinality as p(id, owner_id, currency, total, ord)
      ), credited as (
        insert into billing.accounts (id, kind, owner_id, currency, balance)
        select id, 'earnings', owner_id, currency, total from totals where total >= 0
        order by ord
        on conflict (kind, owner_id, currency) do update set balance = accounts.balance + excluded.balance
        returning id, owner_id, currency, balance
      ), debited as (
        -- Taking earnings back (refunds): the account exists, since it earned what is reversed.
        update billing.accounts a set balance = a.balance + t.total
        from totals t
        where t.total < 0 and a.kind = 'earnings' and a.owner_id = t.owner_id and a.currency = t.currency
        returning a.id, a.owner_id, a.currency, a.balance
      ), earned as (
        select * from credited union all select * from debited
      )
      insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
      select l.tx, coalesce(l.account, e.id), l.amount,
        case when l.payee is null then l.balance_after
          else e.balance - coalesce(sum(l.amount) over (partition by l.payee, l.currency order by l.ord desc
            rows between unbounded preceding and 1 preceding), 0) end,
        ${at}::timestamptz
      from lines l left join earned e on e.owner_id = l.payee and e.currency = l.currency
      order by l.ord`,
  ];
}

/** Everything a plan writes. */
export async function planWrites<T>(tx: Tx, plan: WalletPlan<T>, at: Date, platform: PlatformAccounts) {
  return [
    ...(plan.wallet ? walletWrites(tx, [plan.wallet]) : []),
    ...(plan.postings.length > 0 ? await postingWrites(tx, plan.postings, at, platform) : []),
  ];
}

/**
 * One money move on one wallet, in one transaction under an idempotency key: `lock` reads the
 * snapshot under lock, the domain's plan decides, and what it decided is written.
 */
export async function walletMove<T>(
  sql: Sql,
  platform: PlatformAccounts,
  key: IdempotencyKey,
  at: Date,
  lock: (tx: Tx) => Promise<WalletSnapshot>,
  plan: (wallet: WalletSnapshot) => WalletPlan<T>,
): Promise<T> {
  return (await sql.begin((tx) =>
    idempotent(tx, key, async () => {
      const decided = plan(await lock(tx));
      await pipelined(await planWrites(tx, decided, at, platform));
      return decided.result;
    }),
  )) as T;
}

/**
 * Runs a money move under an idempotency key inside `tx`: the key row is inserted first, so a
 * concurrent duplicate waits for this transaction and then reads its committed answer; the
 * answer is saved in the same transaction as the money.
 */
export async function idempotent<T>(tx: Tx, key: IdempotencyKey, move: () => Promise<T>): Promise<T> {
  const claimed = await tx`
    insert into billing.idempotency_keys (scope, key, request_hash)
    values (${key.scope}, ${key.key}, ${key.requestHash})
    on conflict (scope, key) do nothing
    returning 1`;
  if (claimed.length === 0) {
    const [stored] = await tx<{ request_hash: string; response: string | null }[]>`
      select request_hash, response from billing.idempotency_keys where scope = ${key.scope} and key = ${key.key}`;
    return replayOf(
      {
        requestHash: stored?.request_hash ?? "",
        response: stored?.response ? decodeResponse<T>(stored.response) : undefined,
      },
      key.requestHash,
    );
  }
  const result = await move();
  await tx`
    update billing.idempotency_keys set response = ${encodeResponse(result)}
    where scope = ${key.scope} and key = ${key.key}`;
  return result;
}
