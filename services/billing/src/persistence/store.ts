import { isPgError } from "@parley/kit/db";
import { failedPrecondition } from "@parley/kit/errors";
import type postgres from "postgres";
import type { LedgerStore } from "../domain/ports";
import { createChargeStore } from "./charges";
import { createFreezeStore } from "./freezes";
import { createHoldStore } from "./holds";
import { createInvoiceStore } from "./invoices";
import { createPaymentStore } from "./payments";
import { createPayoutStore } from "./payouts";
import { createRefundStore } from "./refunds";
import { createSealer } from "./sealing";
import { asSql, platformAccounts } from "./sql";
import { createEarningsStore, createWalletStore } from "./wallets";

/**
 * Settings for the pool the store runs on: every statement is planned once per connection, not
 * at each execution. The statements are key lookups and bulk writes over `unnest` arrays, for
 * which the generic plan (index probes) is the right one at any size, and planning the large
 * ones every time cost more than running them.
 */
export const LEDGER_DATABASE_SETTINGS = { plan_cache_mode: "force_generic_plan" };

/**
 * Billing's storage over one postgres.js pool (opened with LEDGER_DATABASE_SETTINGS). Queries are tagged templates, each a server-side
 * prepared statement (named and cached per connection); bulk statements pass arrays, so their
 * text never varies with the batch size.
 */
export function createLedgerStore(pool: postgres.Sql, options: { payoutKey?: Buffer } = {}): LedgerStore {
  const sql = asSql(pool);
  const platform = platformAccounts();
  return {
    wallets: translated(createWalletStore(sql, platform)),
    holds: translated(createHoldStore(sql, platform)),
    charges: translated(createChargeStore(sql, platform)),
    payments: translated(createPaymentStore(sql, platform)),
    refunds: translated(createRefundStore(sql, platform)),
    invoices: translated(createInvoiceStore(sql)),
    earnings: translated(createEarningsStore(sql)),
    payouts: translated(createPayoutStore(sql, platform, createSealer(options.payoutKey))),
    freezes: translated(createFreezeStore(sql)),
  };
}

/**
 * Database refusals that are the caller's answer, not an outage: a sum that would not fit a
 * bigint (an expert's earnings, a session's total) is FAILED_PRECONDITION AMOUNT_OUT_OF_RANGE.
 * (Wallet credits never get there: the domain holds them within the wallet limit.)
 */
function translated<T extends object>(store: T): T {
  return Object.fromEntries(
    Object.entries(store).map(([name, method]) => [
      name,
      async (...args: unknown[]) => {
        try {
          return await (method as (...args: unknown[]) => Promise<unknown>)(...args);
        } catch (error) {
          if (isPgError(error, "22003"))
            throw failedPrecondition("AMOUNT_OUT_OF_RANGE", "the amounts involved would not fit in 64 bits", {
              cause: error,
            });
          throw error;
        }
      },
    ]),
  ) as T;
}
