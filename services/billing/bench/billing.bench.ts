import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { createBenchDatabase } from "@parley/testing";
import type postgres from "postgres";
import { createBilling } from "../src/domain/billing";
import { INT64_MAX } from "../src/domain/money";
import { createLedgerStore } from "../src/persistence/ledger-store";
import { BILLING_MIGRATIONS } from "../src/server";

const CHARGES = Number(process.env.BENCH_CHARGES ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WALLETS = 1000;
const EXPERTS = 100;
const RATE = 100n;
const CURRENCY = "INR";

const bench = await createBenchDatabase();
const url = bench.url;

try {
  await migrateDatabase(url, BILLING_MIGRATIONS);
  const database = createDatabase(url, { max: CONCURRENCY });
  // The kit's pool parses int8 as bigint; say so to the type checker for the baseline's queries.
  const sql = database.sql as unknown as postgres.Sql<{ bigint: bigint }>;
  const billing = createBilling({
    store: createLedgerStore(database.sql),
    now: () => new Date(),
    commissionBps: 2000n,
    defaultCurrency: CURRENCY,
    defaultProvider: "bench",
    limits: { maxBalance: INT64_MAX },
  });
  const scope = "service:session";

  const payers = Array.from({ length: WALLETS }, () => newId());
  const experts = Array.from({ length: EXPERTS }, () => newId());
  const funds = RATE * BigInt(CHARGES) * 2n;
  for (const userId of payers) {
    await billing.grantCredit("bench", {
      userId,
      amount: { amountMinor: funds, currency: CURRENCY },
      note: "bench",
      requestId: newId(),
    });
  }
  await sql`create table if not exists public.bench_wallets (id text primary key, balance bigint not null)`;
  await sql`insert into public.bench_wallets ${sql(payers.map((id) => ({ id, balance: funds })))}`;

  /** Runs `count` charges with CONCURRENCY in flight; returns charges per second. */
  const run = async (charge: (index: number) => Promise<unknown>): Promise<number> => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CHARGES) await charge(next++);
      }),
    );
    return CHARGES / ((performance.now() - started) / 1000);
  };

  const ledgerCharge = (wallet: (index: number) => number) => {
    // Fresh sessions per run, so no charge is an idempotent replay of an earlier run's minute.
    const sessions = payers.map(() => newId());
    const minutes = new Map<number, bigint>();
    return (index: number) => {
      const w = wallet(index);
      const minute = (minutes.get(w) ?? 0n) + 1n;
      minutes.set(w, minute);
      return billing.charge(scope, {
        sessionId: sessions[w]!,
        minute,
        payerUserId: payers[w]!,
        payeeUserId: experts[w % EXPERTS]!,
        amount: { amountMinor: RATE, currency: CURRENCY },
        holdId: "",
      });
    };
  };
  const rawCharge = (wallet: (index: number) => number) => async (index: number) => {
    const rows = await sql`
      update public.bench_wallets set balance = balance - ${RATE}
      where id = ${payers[wallet(index)]!} and balance >= ${RATE} returning balance`;
    if (rows.length !== 1) throw new Error("baseline wallet ran dry");
  };

  const spread = (index: number) => index % WALLETS;
  const hot = () => 0;
  const results = [
    {
      scenario: `${WALLETS} distinct wallets`,
      ledger: await run(ledgerCharge(spread)),
      raw: await run(rawCharge(spread)),
    },
    { scenario: "one hot wallet", ledger: await run(ledgerCharge(hot)), raw: await run(rawCharge(hot)) },
  ];

  const [unbalanced] = await sql<{ count: bigint }[]>`
    select count(*)::int8 as count from (
      select transaction_id from billing.entries group by transaction_id having sum(amount) <> 0) broken`;
  console.log(
    `\nbilling charges/s — ${CHARGES} charges per run, ${CONCURRENCY} in flight, pool ${CONCURRENCY}`,
  );
  console.log("scenario                 ledger/s   raw UPDATE/s   ledger ÷ raw");
  for (const { scenario, ledger, raw } of results) {
    console.log(
      `${scenario.padEnd(24)} ${ledger.toFixed(0).padStart(8)}   ${raw.toFixed(0).padStart(12)}   ${(ledger / raw).toFixed(2).padStart(12)}`,
    );
  }
  console.log(`ledger check: ${unbalanced!.count} unbalanced transactions\n`);
  await database.close();
} finally {
  await bench.drop();
}
