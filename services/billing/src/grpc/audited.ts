import { staffActionsOf } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";

/**
 * The staff money actions billing does, audited in auth's log by the kit server
 * (`staffActions`) after each one succeeds, or when the permission map refuses one. The target
 * is the request's user_id or expert_user_id; the note or reason is recorded when given (these
 * RPCs predate the required reason). Reads are not listed.
 */
export const BILLING_STAFF_ACTIONS = staffActionsOf(BillingServiceService, {
  grantCredit: { action: "wallet.grant_credit" },
  refund: { action: "session.refund" },
  refundPayment: { action: "payment.refund" },
  reconcilePayment: { action: "payment.reconcile" },
  setKycStatus: { action: "payout.kyc_set" },
  retryPayout: { action: "payout.retry" },
});
