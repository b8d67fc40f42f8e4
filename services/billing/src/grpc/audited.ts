/**
 * The staff money actions billing does, audited in auth's log by the kit server
 * (`staffActions`) after each one succeeds: method → action. Reads are not listed.
 */
export const BILLING_STAFF_ACTIONS: Readonly<Record<string, string>> = {
  "parley.billing.v1.BillingService/GrantCredit": "wallet.grant_credit",
  "parley.billing.v1.BillingService/Refund": "session.refund",
  "parley.billing.v1.BillingService/RefundPayment": "payment.refund",
  "parley.billing.v1.BillingService/ReconcilePayment": "payment.reconcile",
  "parley.billing.v1.BillingService/SetKycStatus": "payout.kyc_set",
  "parley.billing.v1.BillingService/RetryPayout": "payout.retry",
};
