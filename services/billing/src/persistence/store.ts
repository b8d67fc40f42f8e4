import type postgres from "postgres";
import type { LedgerStore } from "../domain/ports";
import { createChargeStore } from "./charges";
import { createHoldStore } from "./holds";
import { createInvoiceStore } from "./invoices";
import { createPaymentStore } from "./payments";
import { createRefundStore } from "./refunds";
import { asSql, platformAccounts } from "./sql";
import { createEarningsStore, createWalletStore } from "./wallets";

/**
 * Billing's storage over one postgres.js pool. Queries are tagged templates, each a server-side
 * prepared statement (named and cached per connection); bulk statements pass arrays, so their
 * text never varies with the batch size.
 */
export function createLedgerStore(pool: postgres.Sql): LedgerStore {
  const sql = asSql(pool);
  const platform = platformAccounts();
  return {
    wallets: createWalletStore(sql, platform),
    holds: createHoldStore(sql, platform),
    charges: createChargeStore(sql, platform),
    payments: createPaymentStore(sql, platform),
    refunds: createRefundStore(sql, platform),
    invoices: createInvoiceStore(sql),
    earnings: createEarningsStore(sql),
  };
}
