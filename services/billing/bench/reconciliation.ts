// The reconciliation run of `pnpm bench:billing`: BENCH_RECONCILE_PAYMENTS (10,000) payments
// left pending (their webhooks never came) are settled by the reconciliation worker's rounds
// (billing.reconcileDue: claim a batch, read each from the provider, credit it once), against an
// in-process provider that reports every one captured — so the figure is billing's own work per
// payment (claim, payment lock, event record, wallet created and credited, finding), not a
// provider's latency.
import { createDatabase } from "@parley/kit/db";
import postgres from "postgres";
import { createBilling } from "../src/domain/billing";
import { INT64_MAX } from "../src/domain/money";
import type { PaymentProvider } from "../src/domain/ports";
import { createLedgerStore, LEDGER_DATABASE_SETTINGS } from "../src/persistence/store";

const PAYMENTS = Number(process.env.BENCH_RECONCILE_PAYMENTS ?? 10_000);
const BATCH = Number(process.env.BENCH_RECONCILE_BATCH ?? 200);
const PARALLEL = Number(process.env.BENCH_RECONCILE_PARALLEL ?? 16);
const AMOUNT = 1_000n;

/** Every payment captured once, for the amount it was created with. */
const capturedProvider: PaymentProvider = {
  name: "bench",
  async createPayment() {
    throw new Error("not used");
  },
  parseWebhook() {
    throw new Error("not used");
  },
  async fetchPayment() {
    throw new Error("not used");
  },
  async refund() {
    throw new Error("not used");
  },
  async findRefund() {
    throw new Error("not used");
  },
  async paymentsOf(providerReference) {
    return [
      {
        providerReference,
        providerPaymentId: `pay_${providerReference}`,
        status: "succeeded",
        amount: AMOUNT,
        currency: "INR",
      },
    ];
  },
};

/** What the reconciliation run adds to bench:billing's JSON line. */
export interface ReconciliationFigures {
  reconcile_payments: number;
  reconcile_settled: number;
  reconcile_seconds: number;
  reconcile_per_s: number;
  reconcile_credited: number;
  reconcile_still_pending: number;
  reconcile_failures: number;
}

/** Seeds the pending payments, settles them round after round, prints the rate and returns the figures. */
export async function benchReconciliation(url: string): Promise<ReconciliationFigures> {
  const owner = postgres(url, { max: 1, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  const database = createDatabase(url, { max: PARALLEL + 2, settings: LEDGER_DATABASE_SETTINGS });
  try {
    await owner`
      insert into billing.payments (id, user_id, currency, amount, status, provider, provider_reference,
        created_at, updated_at)
      select gen_random_uuid(), gen_random_uuid()::text, 'INR', ${AMOUNT}, 'pending', 'bench', 'ref_' || i,
        now() - interval '1 hour', now() - interval '1 hour'
      from generate_series(1, ${PAYMENTS}) i`;
    const billing = createBilling({
      store: createLedgerStore(database.sql),
      now: () => new Date(),
      commissionBps: 2000n,
      defaultCurrency: "INR",
      defaultProvider: "bench",
      supportedCurrencies: new Set(["INR"]),
      limits: { maxBalance: INT64_MAX },
      maxTopUp: INT64_MAX,
      providers: new Map([["bench", capturedProvider]]),
      reconcileAfterMs: 60_000,
    });
    const started = performance.now();
    let settled = 0;
    let failures = 0;
    for (;;) {
      const round = await billing.reconcileDue(BATCH, PARALLEL, 60_000);
      settled += round.settled;
      failures += round.failures;
      if (round.claimed === 0) break;
    }
    const seconds = (performance.now() - started) / 1000;
    const [check] = await owner<{ credited: bigint; pending: bigint; credits: bigint }[]>`
      select count(*) filter (where status = 'succeeded' and provider = 'bench') as credited,
        count(*) filter (where status = 'pending' and provider = 'bench') as pending,
        (select count(*) from billing.transactions where type = 'top_up') as credits
      from billing.payments`;
    const rate = settled / seconds;
    console.log(
      `reconciliation — ${PAYMENTS} pending payments, ${BATCH} per round, ${PARALLEL} provider reads in flight: ` +
        `${settled} settled in ${seconds.toFixed(2)} s (${rate.toFixed(0)}/s); ${check!.credited} credited, ` +
        `${check!.pending} still pending, ${check!.credits} top-up credits, ${failures} failures\n`,
    );
    return {
      reconcile_payments: PAYMENTS,
      reconcile_settled: settled,
      reconcile_seconds: Number(seconds.toFixed(2)),
      reconcile_per_s: Math.round(rate),
      reconcile_credited: Number(check!.credited),
      reconcile_still_pending: Number(check!.pending),
      reconcile_failures: failures,
    };
  } finally {
    await database.close();
    await owner.end({ timeout: 5 });
  }
}
