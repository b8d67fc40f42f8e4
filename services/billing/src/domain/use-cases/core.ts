import { type AppError, isAppError } from "@parley/kit/errors";
import { inParallel as runInParallel } from "@parley/kit/parallel";
import type { WalletLimits } from "../ledger";
import type { IdempotencyScope } from "../model";
import { hashRequest } from "../money";
import type { DueClaim, LedgerStore, PaymentProvider, PayoutProvider } from "../ports";
import { Checks } from "../validation";

export interface BillingDeps {
  store: LedgerStore;
  /** Injectable clock: tests move time instead of sleeping. */
  now: () => Date;
  commissionBps: bigint;
  defaultCurrency: string;
  defaultProvider: string;
  /** ISO 4217 codes this deployment takes (SUPPORTED_CURRENCIES). */
  supportedCurrencies: ReadonlySet<string>;
  limits: WalletLimits;
  /** The most one top-up may add (minor units). */
  maxTopUp: bigint;
  /** The payout rail (RazorpayX, or the development rail outside production); payouts are refused without one. */
  payoutProvider?: PayoutProvider;
  /** Tax withheld on each payout, in basis points (TDS); none by default. */
  tdsBps?: bigint;
  /** The smallest withdrawal, in minor units. */
  minPayout?: bigint;
  /** Reconciliation: a payment still pending (a payout processing) this long is read back (15 min by default). */
  reconcileAfterMs?: number;
  /** Reconciliation: a payment the provider still has unpaid this long expires. */
  paymentExpiryMs?: number;
  /** The payment providers by name (the development provider, and Stripe and Razorpay when configured); none when absent. */
  providers?: ReadonlyMap<string, PaymentProvider>;
}

export type Core = ReturnType<typeof createCore>;

/**
 * What every use case shares: the deps, field checks, the default currency, idempotency keys
 * and the planners' context.
 */
export function createCore(deps: BillingDeps) {
  const checks = () => new Checks(deps.supportedCurrencies);
  const currencyOr = (currency: string) => {
    const chosen = currency || deps.defaultCurrency;
    checks().currency(chosen, "currency").done();
    return chosen;
  };
  const key = (
    scope: IdempotencyScope,
    operation: string,
    requestId: string,
    parameters: Record<string, unknown>,
  ) => ({
    scope,
    key: `${operation}:${requestId}`,
    requestHash: hashRequest(parameters),
  });
  const context = (at: Date) => ({ now: at, limits: deps.limits });
  const reconcileAfterMs = deps.reconcileAfterMs ?? 15 * 60_000;
  return {
    ...deps,
    reconcileAfterMs,
    checks,
    currencyOr,
    key,
    context,
    inParallel,
    sendOrFind,
    /** A round's claim of what has waited `reconcileAfterMs`, each claimed not due again for `retryAfterMs`. */
    dueClaim(limit: number, retryAfterMs: number): DueClaim {
      const at = deps.now();
      return {
        before: new Date(at.getTime() - reconcileAfterMs),
        now: at,
        nextCheckAt: new Date(at.getTime() + retryAfterMs),
        limit,
      };
    },
  };
}

/**
 * `work` on every item, `parallel` at a time (a reconciliation round's provider calls); one that
 * throws does not stop the others. Returns how many threw.
 */
async function inParallel<T>(items: readonly T[], parallel: number, work: (item: T) => Promise<void>) {
  let failures = 0;
  await runInParallel(items, parallel, (item) =>
    work(item).catch(() => {
      failures += 1;
    }),
  );
  return failures;
}

/**
 * A send to a provider whose refusal (PROVIDER_REFUSED) may only say that an earlier send, whose
 * answer was lost, made it already (RazorpayX refuses another body under a known key; Stripe
 * forgets keys after 24 hours): then `find` looks for it there. Resolves with the send's answer
 * or what `find` found, or `refused` when there is nothing there (a lookup the provider refuses
 * too, not knowing the payment or account, counts as nothing).
 */
async function sendOrFind<T>(
  send: () => Promise<T>,
  find: () => Promise<T | undefined>,
): Promise<{ answer: T } | { refused: AppError }> {
  try {
    return { answer: await send() };
  } catch (error) {
    if (!isAppError(error, "PROVIDER_REFUSED")) throw error;
    const found = await find().catch((lookup: unknown) => {
      if (isAppError(lookup, "PROVIDER_REFUSED")) return undefined;
      throw lookup;
    });
    return found ? { answer: found } : { refused: error };
  }
}
