import { allow, type Permission } from "@parley/kit/auth";
import type { Handlers } from "@parley/kit/grpc";
import type { BillingStaffServiceService } from "@parley/proto/parley/billing/v1/staff";
import type { Billing } from "../domain/billing";

/** Only auth's back office, which authorises and audits the staff member behind the call. */
export const billingStaffPermissions: { [K in keyof typeof BillingStaffServiceService]: Permission } = {
  setWalletFrozen: allow.services("auth"),
  getPendingMoney: allow.services("auth"),
};

export function billingStaffHandlers(billing: Billing): Handlers<typeof BillingStaffServiceService> {
  return {
    async setWalletFrozen(request) {
      return billing.setWalletFrozen(request.userId, request.frozen);
    },

    async getPendingMoney(request) {
      return billing.pendingMoney(request.userId);
    },
  };
}
