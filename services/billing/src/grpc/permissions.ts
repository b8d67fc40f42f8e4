import { allow, type Permission } from "@parley/kit/auth";
import type { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";

/** Who may call each RPC; resource checks (your own wallet) are in the handlers. */
export const billingPermissions: { [K in keyof typeof BillingServiceService]: Permission } = {
  getWallet: allow.signedIn,
  listTransactions: allow.signedIn,
  createTopUp: allow.signedIn,
  confirmPayment: allow.services("edge"),
  verifyTopUp: allow.signedIn,
  receiveProviderWebhook: allow.services("edge"),
  reconcilePayment: allow.staff,
  listPaymentFindings: allow.staff,
  refundPayment: allow.staff,
  setPayoutAccount: allow.roles("expert"),
  getPayoutAccount: allow.anyOf(allow.roles("expert"), allow.staff),
  setKycStatus: allow.staff,
  requestWithdrawal: allow.roles("expert"),
  listPayouts: allow.anyOf(allow.roles("expert"), allow.staff),
  retryPayout: allow.staff,
  placeHold: allow.services("session"),
  extendHold: allow.services("session"),
  captureHold: allow.services("session"),
  releaseHold: allow.services("session"),
  charge: allow.services("session"),
  chargeBatch: allow.services("session"),
  settleSession: allow.services("session"),
  // Session refunds a dispute support resolved (idempotent by the dispute).
  refund: allow.anyOf(allow.staff, allow.services("session")),
  // Money out of the platform's promotions account: admins only (not support nor its former name, operator).
  grantCredit: allow.roles("admin"),
  listInvoices: allow.signedIn,
  getInvoice: allow.signedIn,
  getEarnings: allow.anyOf(allow.roles("expert"), allow.staff),
};
