import { enumMapping } from "@parley/kit/enums";
import {
  AccountKind,
  type ChargeOutcome as ChargeOutcomeMessage,
  type ChargeRequest,
  type ChargeResponse,
  type Hold as HoldMessage,
  HoldStatus,
  InvoiceLineKind,
  type Invoice as InvoiceMessage,
  KycStatus,
  type PaymentFinding as PaymentFindingMessage,
  type Payment as PaymentMessage,
  type PaymentRefund as PaymentRefundMessage,
  PaymentRefundStatus,
  PaymentStatus,
  type PayoutAccount as PayoutAccountMessage,
  type Payout as PayoutMessage,
  PayoutMethod,
  PayoutStatus,
  RefundReason,
  type RefundRecord,
  SessionKind,
  type Transaction,
  TransactionType,
  type Wallet,
} from "@parley/proto/parley/billing/v1/billing";
import type { Money as MoneyMessage } from "@parley/proto/parley/common/v1/money";
import type { ChargeInput } from "../domain/billing";
import type * as domain from "../domain/model";
import type * as payouts from "../domain/payouts";

/** Proto ↔ domain translation: enums, Money and opaque page tokens. */

export const money = (amountMinor: bigint, currency: string): MoneyMessage => ({ amountMinor, currency });
export const fromMoney = (value: MoneyMessage | undefined): domain.Money | undefined =>
  value ? { amountMinor: value.amountMinor, currency: value.currency.toUpperCase() } : undefined;

const HOLD_STATUS = enumMapping<domain.HoldStatus, HoldStatus>({
  open: HoldStatus.HOLD_STATUS_OPEN,
  captured: HoldStatus.HOLD_STATUS_CAPTURED,
  released: HoldStatus.HOLD_STATUS_RELEASED,
  expired: HoldStatus.HOLD_STATUS_EXPIRED,
});

const PAYMENT_STATUS = enumMapping<domain.PaymentStatus, PaymentStatus>({
  pending: PaymentStatus.PAYMENT_STATUS_PENDING,
  succeeded: PaymentStatus.PAYMENT_STATUS_SUCCEEDED,
  failed: PaymentStatus.PAYMENT_STATUS_FAILED,
  cancelled: PaymentStatus.PAYMENT_STATUS_CANCELLED,
  expired: PaymentStatus.PAYMENT_STATUS_EXPIRED,
});

const TRANSACTION_TYPE = enumMapping<domain.TransactionType, TransactionType>({
  top_up: TransactionType.TRANSACTION_TYPE_TOP_UP,
  session_charge: TransactionType.TRANSACTION_TYPE_SESSION_CHARGE,
  hold_capture: TransactionType.TRANSACTION_TYPE_HOLD_CAPTURE,
  refund: TransactionType.TRANSACTION_TYPE_REFUND,
  promotion: TransactionType.TRANSACTION_TYPE_PROMOTION,
  payout: TransactionType.TRANSACTION_TYPE_PAYOUT,
  top_up_refund: TransactionType.TRANSACTION_TYPE_TOP_UP_REFUND,
});

const SESSION_KIND = enumMapping<domain.SessionKind, SessionKind>({
  chat: SessionKind.SESSION_KIND_CHAT,
  call: SessionKind.SESSION_KIND_CALL,
});

const ACCOUNT_KIND = enumMapping<domain.UserAccountKind, AccountKind>({
  wallet: AccountKind.ACCOUNT_KIND_WALLET,
  earnings: AccountKind.ACCOUNT_KIND_EARNINGS,
});

const INVOICE_LINE_KIND = enumMapping<domain.InvoiceLine["kind"], InvoiceLineKind>({
  minutes: InvoiceLineKind.INVOICE_LINE_KIND_MINUTES,
  refund: InvoiceLineKind.INVOICE_LINE_KIND_REFUND,
});

const REFUND_REASON = enumMapping<domain.RefundReason, RefundReason>({
  service_issue: RefundReason.REFUND_REASON_SERVICE_ISSUE,
  billing_error: RefundReason.REFUND_REASON_BILLING_ERROR,
  customer_request: RefundReason.REFUND_REASON_CUSTOMER_REQUEST,
  goodwill: RefundReason.REFUND_REASON_GOODWILL,
  other: RefundReason.REFUND_REASON_OTHER,
});

const PAYOUT_METHOD = enumMapping<payouts.PayoutMethod, PayoutMethod>({
  bank_account: PayoutMethod.PAYOUT_METHOD_BANK_ACCOUNT,
  upi: PayoutMethod.PAYOUT_METHOD_UPI,
});

const KYC_STATUS = enumMapping<payouts.KycStatus, KycStatus>({
  pending: KycStatus.KYC_STATUS_PENDING,
  verified: KycStatus.KYC_STATUS_VERIFIED,
  rejected: KycStatus.KYC_STATUS_REJECTED,
});

const PAYOUT_STATUS = enumMapping<payouts.PayoutStatus, PayoutStatus>({
  processing: PayoutStatus.PAYOUT_STATUS_PROCESSING,
  paid: PayoutStatus.PAYOUT_STATUS_PAID,
  failed: PayoutStatus.PAYOUT_STATUS_FAILED,
  reversed: PayoutStatus.PAYOUT_STATUS_REVERSED,
});

// Unset is undefined here: the domain says which are required.
export const toPaymentStatus = (v: PaymentStatus) => PAYMENT_STATUS.toOptional(v, "status");
export const toPayoutMethod = (v: PayoutMethod) => PAYOUT_METHOD.toOptional(v, "method");
export const toKycStatus = (v: KycStatus) => KYC_STATUS.toOptional(v, "status");
export const toPayoutStatus = (v: PayoutStatus) => PAYOUT_STATUS.toOptional(v, "status");
export const toSessionKind = (v: SessionKind) => SESSION_KIND.toOptional(v, "kind");
export const toAccountKind = (v: AccountKind) => ACCOUNT_KIND.toOptional(v, "account");
export const toRefundReason = (v: RefundReason) => REFUND_REASON.toOptional(v, "reason");

const REFUND_STATUS = enumMapping<domain.PaymentRefundStatus, PaymentRefundStatus>({
  pending: PaymentRefundStatus.PAYMENT_REFUND_STATUS_PENDING,
  processed: PaymentRefundStatus.PAYMENT_REFUND_STATUS_PROCESSED,
  failed: PaymentRefundStatus.PAYMENT_REFUND_STATUS_FAILED,
});

export const paymentRefundMessage = (refund: domain.PaymentRefund): PaymentRefundMessage => ({
  refundId: refund.refundId,
  paymentId: refund.paymentId,
  amount: money(refund.amount, refund.currency),
  status: REFUND_STATUS.toProto(refund.status),
  providerRefundId: refund.providerRefundId,
  createdAt: refund.createdAt,
  updatedAt: refund.updatedAt,
});

export const payoutAccountMessage = (account: payouts.PayoutAccount): PayoutAccountMessage => ({
  expertUserId: account.expertUserId,
  method: PAYOUT_METHOD.toProto(account.method),
  holderName: account.holderName,
  masked: account.masked,
  kycStatus: KYC_STATUS.toProto(account.kycStatus),
  kycRejectionReason: account.kycReason,
  updatedAt: account.updatedAt,
});

export const payoutMessage = (payout: payouts.Payout): PayoutMessage => ({
  payoutId: payout.payoutId,
  expertUserId: payout.expertUserId,
  amount: money(payout.amount, payout.currency),
  tds: money(payout.tds, payout.currency),
  net: money(payout.net, payout.currency),
  status: PAYOUT_STATUS.toProto(payout.status),
  providerPayoutId: payout.providerPayoutId,
  failureReason: payout.failureReason,
  automatic: payout.automatic,
  createdAt: payout.createdAt,
  updatedAt: payout.updatedAt,
});

export const walletMessage = (wallet: domain.WalletView): Wallet => ({
  userId: wallet.userId,
  balance: money(wallet.balance, wallet.currency),
  held: money(wallet.held, wallet.currency),
  available: money(wallet.available, wallet.currency),
  minutesLeft: wallet.minutesLeft,
  frozen: wallet.frozen,
});

export const transactionMessage = (entry: domain.AccountEntry): Transaction => ({
  transactionId: entry.transactionId,
  type: TRANSACTION_TYPE.toProto(entry.type),
  amount: money(entry.amount, entry.currency),
  balanceBefore: money(entry.balanceAfter - entry.amount, entry.currency),
  balanceAfter: money(entry.balanceAfter, entry.currency),
  reference: entry.reference,
  createdAt: entry.createdAt,
});

export const holdMessage = (hold: domain.Hold): HoldMessage => ({
  holdId: hold.holdId,
  userId: hold.userId,
  amount: money(hold.amount, hold.currency),
  captured: money(hold.captured, hold.currency),
  status: HOLD_STATUS.toProto(hold.status),
  reference: hold.reference,
  expiresAt: hold.expiresAt,
  createdAt: hold.createdAt,
});

export const findingMessage = (finding: domain.PaymentFinding): PaymentFindingMessage => ({
  kind: finding.kind,
  paymentId: finding.paymentId,
  providerPaymentId: finding.providerPaymentId,
  providerRefundId: finding.providerRefundId,
  amount: money(finding.amount, finding.currency),
  createdAt: finding.createdAt,
});

export const paymentMessage = (payment: domain.Payment): PaymentMessage => ({
  paymentId: payment.paymentId,
  userId: payment.userId,
  amount: money(payment.amount, payment.currency),
  status: PAYMENT_STATUS.toProto(payment.status),
  provider: payment.provider,
  providerReference: payment.providerReference,
  providerPaymentId: payment.providerPaymentId,
  failureReason: payment.failureReason,
  createdAt: payment.createdAt,
  updatedAt: payment.updatedAt,
});

export const invoiceMessage = (invoice: domain.Invoice): InvoiceMessage => ({
  invoiceId: invoice.invoiceId,
  sessionId: invoice.sessionId,
  payerUserId: invoice.payerUserId,
  payeeUserId: invoice.payeeUserId,
  kind: SESSION_KIND.toProto(invoice.kind),
  lines: invoice.lines.map((line) => ({
    kind: INVOICE_LINE_KIND.toProto(line.kind),
    description: line.description,
    quantity: line.quantity,
    unitPrice: money(line.unitPrice, invoice.currency),
    amount: money(line.amount, invoice.currency),
  })),
  total: money(invoice.total, invoice.currency),
  createdAt: invoice.createdAt,
});

export const refundMessage = (refund: domain.Refund): RefundRecord => ({
  refundId: refund.refundId,
  sessionId: refund.sessionId,
  payerUserId: refund.payerUserId,
  amount: money(refund.amount, refund.currency),
  reason: REFUND_REASON.toProto(refund.reason),
  note: refund.note,
  transactionId: refund.transactionId,
  createdAt: refund.createdAt,
});

export const chargeInput = (request: ChargeRequest): ChargeInput => ({
  sessionId: request.sessionId,
  minute: request.minute,
  payerUserId: request.payerUserId,
  payeeUserId: request.payeeUserId,
  amount: fromMoney(request.amount),
  holdId: request.holdId,
});

export const chargeMessage = (result: domain.ChargeResult): ChargeResponse => ({
  transactionId: result.transactionId,
  available: money(result.available, result.currency),
  balance: money(result.balance, result.currency),
  minutesLeft: result.minutesLeft,
});

export function chargeOutcomeMessage(outcome: domain.ChargeOutcome): ChargeOutcomeMessage {
  switch (outcome.kind) {
    case "charged":
    case "replayed":
      return { outcome: { $case: outcome.kind, value: chargeMessage(outcome.result) } };
    case "insufficient_funds":
      return {
        outcome: {
          $case: "insufficientFunds",
          value: { shortfall: money(outcome.shortfall, outcome.currency) },
        },
      };
    case "settled":
      return { outcome: { $case: "settled", value: {} } };
    case "refused":
      return { outcome: { $case: "refused", value: { reason: outcome.reason, message: outcome.message } } };
  }
}
