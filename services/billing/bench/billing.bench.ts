// `pnpm bench:billing`: billing's charge paths beside a raw conditional `UPDATE … RETURNING` on
// the same wallets, in one process run, so the ratios compare what the machine's noise does not:
//   - ChargeBatch (one minute of each wallet per round, BENCH_BATCHES_IN_FLIGHT calls at once over
//     disjoint shares of the wallets) vs raw, 1,000 wallets;
//   - single Charge (BENCH_CONCURRENCY in flight) vs raw, 1,000 wallets;
//   - single Charge vs raw on one hot wallet.
// Each scenario warms both sides up, then runs BENCH_ROUNDS rounds alternating which side goes
// first; the figures are the medians. In-process through the domain and store (no gRPC), on
// DATABASE_URL's server or an embedded Postgres. Then the reconciliation run (./reconciliation.ts).
// Ends with one JSON line holding the figures of both.
import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { createBenchDatabase } from "@parley/testing";
import type postgres from "postgres";
import { createBilling } from "../src/domain/billing";
import { INT64_MAX } from "../src/domain/money";
import { createLedgerStore, LEDGER_DATABASE_SETTINGS } from "../src/persistence/store";
import { BILLING_MIGRATIONS } from "../src/server";
import { benchReconciliation } from "./reconciliation";

const CHARGES = Number(process.env.BENCH_CHARGES ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** ChargeBatch calls in flight, each over its own share of the wallets (as metering's parallel chunks). */
const BATCHES_IN_FLIGHT = Number(process.env.BENCH_BATCHES_IN_FLIGHT ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WALLETS = 1000;
const EXPERTS = 100;
const RATE = 100n;
const CURRENCY = "INR";

const bench = await createBenchDatabase();

try {
  await migrateDatabase(bench.url, BILLING_MIGRATIONS);
  const database = createDatabase(bench.url, { max: CONCURRENCY, settings: LEDGER_DATABASE_SETTINGS });
  // The kit's pool parses int8 as bigint; say so to the type checker for the baseline's queries.
  const sql = database.sql as unknown as postgres.Sql<{ bigint: bigint }>;
  const billing = createBilling({
    store: createLedgerStore(database.sql),
    now: () => new Date(),
    commissionBps: 2000n,
    defaultCurrency: CURRENCY,
    defaultProvider: "bench",
    supportedCurrencies: new Set(["INR"]),
    limits: { maxBalance: INT64_MAX },
    maxTopUp: INT64_MAX,
  });
  const scope = "service:session";
  const [version] = await sql<{ server_version: string }[]>`show server_version`;

  const payers = Array.from({ length: WALLETS }, () => newId());
  const experts = Array.from({ length: EXPERTS }, () => newId());
  // Enough for every run of every scenario, hot wallet included.
  const funds = RATE * BigInt(CHARGES) * BigInt(ROUNDS + 1) * 8n;
  for (const userId of payers) {
    await billing.grantCredit("bench", {
      userId,
      amount: { amountMinor: funds, currency: CURRENCY },
      note: "bench",
      requestId: newId(),
    });
  }
  await sql`create table public.bench_wallets (id text primary key, balance bigint not null)`;
  await sql`insert into public.bench_wallets ${sql(payers.map((id) => ({ id, balance: funds })))}`;
  await sql`vacuum analyze`;

  /** Runs `count` calls with `inFlight` at a time; returns charges per second. */
  const run = async (
    count: number,
    inFlight: number,
    call: (index: number) => Promise<unknown>,
    perCall = 1,
  ) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) await call(next++);
      }),
    );
    return (count * perCall) / ((performance.now() - started) / 1000);
  };

  /** Minute after minute of one session per wallet; fresh sessions per run, so nothing replays. */
  const minutes = (wallet: (index: number) => number) => {
    const sessions = payers.map(() => newId());
    const next = new Map<number, bigint>();
    return (index: number) => {
      const w = wallet(index);
      const minute = (next.get(w) ?? 0n) + 1n;
      next.set(w, minute);
      return {
        sessionId: sessions[w]!,
        minute,
        payerUserId: payers[w]!,
        payeeUserId: experts[w % EXPERTS]!,
        amount: { amountMinor: RATE, currency: CURRENCY },
        holdId: "",
      };
    };
  };
  const spread = (index: number) => index % WALLETS;
  const hot = () => 0;

  const raw = (wallet: (index: number) => number) => (count: number) =>
    run(count, CONCURRENCY, async (index) => {
      const rows = await sql`
        update public.bench_wallets set balance = balance - ${RATE}
        where id = ${payers[wallet(index)]!} and balance >= ${RATE} returning balance`;
      if (rows.length !== 1) throw new Error("baseline wallet ran dry");
    });
  const charge = (wallet: (index: number) => number) => (count: number) => {
    const item = minutes(wallet);
    return run(count, CONCURRENCY, async (index) => {
      await billing.charge(scope, item(index));
    });
  };
  /** One minute of every wallet per call; BATCHES_IN_FLIGHT calls at once over disjoint wallets. */
  const batchSize = WALLETS / BATCHES_IN_FLIGHT;
  const batches = async (count: number) => {
    const item = minutes(spread);
    const rounds = Math.max(1, Math.round(count / WALLETS));
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        Array.from({ length: BATCHES_IN_FLIGHT }, async (_, group) => {
          const outcomes = await billing.chargeBatch(
            scope,
            Array.from({ length: batchSize }, (_, i) => item(group * batchSize + i)),
          );
          if (outcomes.some((outcome) => outcome.kind !== "charged")) throw new Error("a minute was refused");
        }),
      );
    }
    return (rounds * WALLETS) / ((performance.now() - started) / 1000);
  };

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  /**
   * Warm-up of both sides, then rounds alternating which goes first. The pool hands each query to
   * its least recently used connection, and a connection's first run of the batch statement costs
   * its backend ≈ 7 ms more CPU (the plan, the trigger functions compiled, the tables' catalog
   * entries loaded) and a describe round trip, so a side's warm-up runs until every connection has
   * run its statements: `warmUp` charges.
   */
  const compare = async (
    side: (count: number) => Promise<number>,
    baseline: (count: number) => Promise<number>,
    warmUp = Math.min(CHARGES, WALLETS),
  ) => {
    await side(warmUp);
    await baseline(Math.min(CHARGES, WALLETS));
    const sides: number[] = [];
    const raws: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        sides.push(await side(CHARGES));
        raws.push(await baseline(CHARGES));
      } else {
        raws.push(await baseline(CHARGES));
        sides.push(await side(CHARGES));
      }
    }
    return { side: median(sides), raw: median(raws) };
  };

  // One call of WALLETS charges sends two statements, so CONCURRENCY calls reach every connection.
  const batch = await compare(batches, raw(spread), WALLETS * CONCURRENCY);
  const single = await compare(charge(spread), raw(spread));
  const hotWallet = await compare(charge(hot), raw(hot));

  const [unbalanced] = await sql<{ count: bigint }[]>`
    select count(*)::int8 as count from (
      select transaction_id from billing.entries group by transaction_id having sum(amount) <> 0) broken`;
  const rows = [
    ["ChargeBatch, 1,000 wallets", batch],
    ["Charge, 1,000 wallets", single],
    ["Charge, one hot wallet", hotWallet],
  ] as const;
  console.log(
    `\nbilling charges/s — Postgres ${version!.server_version}, ${CHARGES} charges per run, ${ROUNDS} rounds (medians), ` +
      `raw and Charge ${CONCURRENCY} in flight, ChargeBatch ${batchSize} items per call, ${BATCHES_IN_FLIGHT} in flight`,
  );
  console.log("scenario                      billing/s   raw UPDATE/s   billing ÷ raw");
  for (const [name, { side, raw: baseline }] of rows)
    console.log(
      `${name.padEnd(28)} ${side.toFixed(0).padStart(9)}   ${baseline.toFixed(0).padStart(12)}   ${(side / baseline).toFixed(2).padStart(13)}`,
    );
  console.log(`ledger check: ${unbalanced!.count} unbalanced transactions\n`);
  const ratio = (figures: { side: number; raw: number }) => Number((figures.side / figures.raw).toFixed(2));
  const charges = {
    bench: "billing",
    batch_vs_raw: ratio(batch),
    charge_vs_raw: ratio(single),
    hot_wallet_vs_raw: ratio(hotWallet),
    batch_per_s: Math.round(batch.side),
    batch_raw_per_s: Math.round(batch.raw),
    charge_per_s: Math.round(single.side),
    charge_raw_per_s: Math.round(single.raw),
    hot_wallet_per_s: Math.round(hotWallet.side),
    hot_wallet_raw_per_s: Math.round(hotWallet.raw),
    charges_per_run: CHARGES,
    concurrency: CONCURRENCY,
    batch_size: batchSize,
    batches_in_flight: BATCHES_IN_FLIGHT,
    rounds: ROUNDS,
    unbalanced: Number(unbalanced!.count),
  };
  await database.close();
  console.log(JSON.stringify({ ...charges, ...(await benchReconciliation(bench.url)) }));
} finally {
  await bench.drop();
}
