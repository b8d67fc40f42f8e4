import { createServiceClient } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { BillingStaffServiceService } from "@parley/proto/parley/billing/v1/staff";
import type { Wallets } from "../domain/ports";

/** Billing as the back office uses it: wallet freezes. */
export function createBillingStaff(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(BillingStaffServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 10_000,
    idempotent: ["setWalletFrozen", "getPendingMoney"],
  });
  const wallets: Wallets = {
    async setFrozen(userId, frozen) {
      return client.setWalletFrozen({ userId, frozen });
    },
  };
  // The staff member's own token is forwarded on reads (billing checks it is staff too).
  const billing = createServiceClient(BillingServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 10_000,
    idempotent: ["getWallet", "listTransactions", "listInvoices"],
  });
  const pendingMoney = async (userId: string) => client.getPendingMoney({ userId });
  return {
    wallets,
    billing,
    pendingMoney,
    close: () => {
      client.close();
      billing.close();
    },
  };
}
