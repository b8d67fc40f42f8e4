import { createAuthenticator } from "@parley/kit/auth";
import { createDatabase } from "@parley/kit/db";
import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import {
  createServiceRole,
  createTestClock,
  createTestDatabase,
  createTestIssuer,
  startTestServer,
  type TestClock,
  type TestIssuer,
} from "@parley/testing";
import postgres from "postgres";
import type { Test } from "tap";
import { INT64_MAX } from "../src/domain/money";
import { LEDGER_DATABASE_SETTINGS } from "../src/persistence/store";
import type { ProviderSettings } from "../src/providers";
import { BILLING_MIGRATIONS, createBillingService } from "../src/server";

export const COMMISSION_BPS = 2000;
export type BillingClient = ServiceClient<typeof BillingServiceService>;

export interface Harness {
  /** A subtest that ends with the ledger invariant check. */
  test(name: string, body: (t: Test) => Promise<void>): void;
  client: BillingClient;
  issuer: TestIssuer;
  /** Raw SQL on the test database as its owner, for invariant checks only. */
  sql: postgres.Sql;
  /** The URL the service connects with: its own role (data access, no ownership). */
  serviceUrl: string;
  billing: ReturnType<typeof createBillingService>["billing"];
  clock: TestClock;
  as: {
    session: { bearerToken: string };
    edge: { bearerToken: string };
    operator: { bearerToken: string };
    admin: { bearerToken: string };
  };
  user(role?: "user" | "expert"): Promise<{ userId: string; call: { bearerToken: string } }>;
  /** Credits a wallet through the promotions account (as an admin: grants are admin-only). */
  fund(userId: string, amountMinor: bigint, currency?: string): Promise<void>;
}

/**
 * One real database, one billing server on a free port running as its own database role, real
 * signed tokens; invariants checked at the end of every h.test.
 */
export async function startHarness(
  t: Test,
  options: {
    maxTopUp?: bigint;
    maxWalletBalance?: bigint;
    providers?: ProviderSettings;
    reconcileAfterMs?: number;
    paymentExpiryMs?: number;
    payoutKey?: Buffer;
    tdsBps?: number;
    minPayout?: bigint;
  } = {},
): Promise<Harness> {
  const { url } = await createTestDatabase(t, { migrations: [BILLING_MIGRATIONS] });
  // The service runs as a role of its own, as in production: data access, no ownership.
  const serviceUrl = await createServiceRole(t, url, "billing");
  const database = createDatabase(serviceUrl, { max: 20, settings: LEDGER_DATABASE_SETTINGS });
  t.teardown(database.close);
  const sql = postgres(url, { max: 2, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  t.teardown(() => sql.end({ timeout: 5 }));
  const issuer = await createTestIssuer();
  const clock = createTestClock();
  const { billing, binding } = createBillingService({
    sql: database.sql,
    commissionBps: COMMISSION_BPS,
    // USD too, so tests can tell a currency mismatch from an unsupported currency (EUR).
    supportedCurrencies: ["INR", "USD"],
    // Unbounded unless a test asks: amounts beyond 2^53 are tested elsewhere.
    maxTopUp: options.maxTopUp ?? INT64_MAX,
    maxWalletBalance: options.maxWalletBalance ?? INT64_MAX,
    now: () => clock.now,
    providers: options.providers,
    reconcileAfterMs: options.reconcileAfterMs,
    paymentExpiryMs: options.paymentExpiryMs,
    payoutKey: options.payoutKey,
    tdsBps: options.tdsBps,
    minPayout: options.minPayout,
  });
  const { address } = await startTestServer(t, {
    name: "billing",
    services: [binding],
    authenticate: createAuthenticator({ tokens: issuer.verifier }),
  });
  const client = createServiceClient(BillingServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => client.close());
  const operator = { bearerToken: await issuer.userToken({ role: "operator" }) };
  const admin = { bearerToken: await issuer.userToken({ role: "admin" }) };
  return {
    test(name, body) {
      t.test(name, async (subtest) => {
        await body(subtest);
        await checkInvariants(subtest, sql);
      });
    },
    client,
    issuer,
    sql,
    serviceUrl,
    billing,
    clock,
    as: {
      session: { bearerToken: await issuer.serviceToken("session") },
      edge: { bearerToken: await issuer.serviceToken("edge") },
      operator,
      admin,
    },
    async user(role = "user") {
      const userId = newId();
      return { userId, call: { bearerToken: await issuer.userToken({ userId, role }) } };
    },
    async fund(userId, amountMinor, currency = "INR") {
      await client.grantCredit(
        { userId, amount: { amountMinor, currency }, note: "test funds", requestId: newId() },
        admin,
      );
    },
  };
}

/**
 * The ledger's invariants, straight from the tables: every transaction's entries sum to zero,
 * so every currency sums to zero; each wallet/earnings balance equals the sum of its entries
 * and is never negative; balance_after on each entry chains from the previous one.
 */
export async function checkInvariants(t: Pick<Test, "same">, sql: postgres.Sql): Promise<void> {
  const unbalanced = await sql`
    select transaction_id, sum(amount) as total from billing.entries
    group by transaction_id having sum(amount) <> 0`;
  t.same(unbalanced.length, 0, "every transaction's entries sum to zero");
  const currencies = await sql`
    select t.currency, sum(e.amount) as total from billing.entries e
    join billing.transactions t on t.id = e.transaction_id group by t.currency having sum(e.amount) <> 0`;
  t.same(currencies.length, 0, "entries sum to zero per currency");
  const drifted = await sql`
    select a.id, a.kind, a.balance, coalesce(sum(e.amount), 0) as posted from billing.accounts a
    left join billing.entries e on e.account_id = a.id
    where a.kind in ('wallet', 'earnings')
    group by a.id having a.balance <> coalesce(sum(e.amount), 0) or a.balance < 0`;
  t.same(drifted, [], "each wallet and earnings balance equals its entries and is not negative");
  const broken = await sql`
    select id from (
      select id, balance_after, amount,
        lag(balance_after) over (partition by account_id order by id) as previous
      from billing.entries where balance_after is not null) chained
    where balance_after - amount <> coalesce(previous, 0)`;
  t.same(broken.length, 0, "balance_before of each entry is the previous balance_after");
  const mischarged = await sql`
    select c.transaction_id from billing.charges c
    left join billing.entries e on e.transaction_id = c.transaction_id
    left join billing.accounts a on a.id = e.account_id
    group by c.transaction_id, c.amount, c.commission, c.payer_user_id, c.payee_user_id
    having count(*) <> 3
      or coalesce(sum(e.amount) filter (where a.kind = 'wallet' and a.owner_id = c.payer_user_id), 0) <> -c.amount
      or coalesce(sum(e.amount) filter (where a.kind = 'earnings' and a.owner_id = c.payee_user_id), 0) <> c.amount - c.commission
      or coalesce(sum(e.amount) filter (where a.kind = 'revenue'), 0) <> c.commission
      or bool_or(e.balance_after is distinct from c.balance_after and a.kind = 'wallet')`;
  t.same(mischarged, [], "each charge is one posting: payer −amount, payee +earnings, revenue +commission");
  const miscredited = await sql`
    select p.id, p.status, count(t.id) as credits from billing.payments p
    left join billing.transactions t on t.reference = 'payment:' || p.id::text and t.type = 'top_up'
    group by p.id having count(t.id) <> (case when p.status = 'succeeded' then 1 else 0 end)`;
  t.same(miscredited, [], "a succeeded payment is credited exactly once, any other never");
  const misrefunded = await sql`
    select r.id from billing.payment_refunds r
    left join billing.transactions t on t.reference = 'payment_refund:' || r.id::text
    left join billing.entries e on e.transaction_id = t.id
    left join billing.accounts a on a.id = e.account_id
    group by r.id, r.amount, r.status
    having coalesce(sum(e.amount) filter (where a.kind = 'wallet'), 0)
      <> case when r.status = 'failed' then 0 else -r.amount end`;
  t.same(
    misrefunded,
    [],
    "a refund took its amount from the wallet once, and gave it back only if it failed",
  );
  const [payouts] = await sql<
    { clearing: bigint; processing: bigint; paid_out: bigint; net: bigint; tds: bigint; withheld: bigint }[]
  >`
    select
      (select coalesce(sum(e.amount), 0) from billing.entries e join billing.accounts a on a.id = e.account_id
        where a.kind = 'payout_clearing') as clearing,
      (select coalesce(sum(amount), 0) from billing.payouts where status = 'processing') as processing,
      (select coalesce(sum(e.amount), 0) from billing.entries e join billing.accounts a on a.id = e.account_id
        where a.kind = 'paid_out') as paid_out,
      (select coalesce(sum(net), 0) from billing.payouts where status = 'paid') as net,
      (select coalesce(sum(e.amount), 0) from billing.entries e join billing.accounts a on a.id = e.account_id
        where a.kind = 'tds') as tds,
      (select coalesce(sum(tds), 0) from billing.payouts where status = 'paid') as withheld`;
  t.same(
    [payouts!.clearing, payouts!.paid_out, payouts!.tds],
    [payouts!.processing, payouts!.net, payouts!.withheld],
    "payout clearing holds the payouts processing; paid-out and TDS what paid payouts sent and withheld",
  );
}

export const inr = (amountMinor: bigint) => ({ amountMinor, currency: "INR" });

/**
 * The plan of the last statement `run` sends, as billing's pool prepares it and plans it
 * (generically: its parameters unknown), with sequential scans ruled out, so the plan shows
 * whether an index can serve the statement at all: `explain (format json)` as text.
 */
export async function genericPlanOf(
  t: Test,
  url: string,
  run: (pool: postgres.Sql) => Promise<unknown>,
): Promise<string> {
  let sent = { text: "", values: [] as unknown[] };
  const pool = postgres(url, {
    max: 1,
    connection: LEDGER_DATABASE_SETTINGS,
    onnotice: () => {},
    debug: (_connection, text, values) => {
      sent = { text, values };
    },
  });
  t.teardown(() => pool.end({ timeout: 5 }));
  await run(pool);
  const { text, values } = sent;
  const literals = values.map((v) => `'${v instanceof Date ? v.toISOString() : String(v)}'`);
  return pool.begin(async (tx) => {
    await tx`set local enable_seqscan = off`;
    await tx`set local plan_cache_mode = force_generic_plan`;
    await tx.unsafe(`prepare planned as ${text}`);
    const rows = await tx.unsafe(`explain (format json) execute planned(${literals.join(", ")})`);
    await tx.unsafe("deallocate planned");
    return JSON.stringify(rows);
  });
}

export { failure } from "@parley/testing";
