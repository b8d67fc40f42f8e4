import { type BillingDeps, createCore } from "./use-cases/core";
import { invoices } from "./use-cases/invoices";
import { payouts } from "./use-cases/payouts";
import { sessionMoney } from "./use-cases/session-money";
import { topUps } from "./use-cases/top-ups";
import { wallets } from "./use-cases/wallets";

export type { BillingDeps } from "./use-cases/core";
export type { ChargeInput } from "./use-cases/session-money";

/**
 * The billing use cases (validation, defaults, keys and commission), one file per concern in
 * use-cases/: wallets, top-ups, payouts, session money, invoices. Decisions are the planners'
 * beside this file (charges.ts, holds.ts, payments.ts, …), over the store.
 */
export function createBilling(deps: BillingDeps) {
  const core = createCore(deps);
  return {
    ...wallets(core),
    ...topUps(core),
    ...payouts(core),
    ...sessionMoney(core),
    ...invoices(core),
  };
}

export type Billing = ReturnType<typeof createBilling>;
