import { createServiceClient } from "@parley/kit/grpc";
import { BillingStaffServiceService } from "@parley/proto/parley/billing/v1/staff";
import type { Wallets } from "../domain/ports";

/** Billing as the back office uses it: wallet freezes. */
export function createBillingStaff(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(BillingStaffServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 10_000,
    idempotent: ["setWalletFrozen"],
  });
  const wallets: Wallets = {
    async setFrozen(userId, frozen) {
      return client.setWalletFrozen({ userId, frozen });
    },
  };
  return { wallets, close: () => client.close() };
}
