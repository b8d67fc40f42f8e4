import { isStaff, type Principal } from "@parley/kit/auth";
import { permissionDenied } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { requireUuid } from "@parley/kit/ids";
import { cursors, type Paging } from "@parley/kit/paging";
import type { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import type { Billing } from "../domain/billing";
import {
  chargeInput,
  chargeMessage,
  chargeOutcomeMessage,
  findingMessage,
  fromMoney,
  holdMessage,
  invoiceMessage,
  money,
  paymentMessage,
  paymentRefundMessage,
  payoutAccountMessage,
  payoutMessage,
  refundMessage,
  toAccountKind,
  toKycStatus,
  toPaymentStatus,
  toPayoutMethod,
  toPayoutStatus,
  toRefundReason,
  toSessionKind,
  transactionMessage,
  walletMessage,
} from "./mapping";

/** Idempotency keys are scoped to the caller, so two callers never collide on a request_id. */
function scopeOf(principal: Principal): string {
  switch (principal.kind) {
    case "user":
      return `user:${principal.userId}`;
    case "service":
      return `service:${principal.service}`;
    case "partner":
      return `partner:${principal.partnerId}`;
    case "anonymous":
      return "anonymous";
  }
}

/** The user a request is about: the caller by default; someone else only for staff. */
function subjectOf(principal: Principal, requestedUserId: string): string {
  if (principal.kind !== "user")
    throw permissionDenied("PERMISSION_DENIED", "only people have wallets to view");
  if (!requestedUserId || requestedUserId === principal.userId) return principal.userId;
  if (!isStaff(principal)) throw permissionDenied("PERMISSION_DENIED", "you may only see your own account");
  return requestedUserId;
}

/** Ids these RPCs may leave empty, checked when given. */
const uuidIfSet = (value: string, field: string) => value && requireUuid(value, field);

const PAGE_SIZES = { default: 50, max: 200 };

/**
 * `checkoutKeys`: each provider's public key the app's checkout opens with (Razorpay's key id),
 * by provider name.
 */
export function billingHandlers(
  billing: Billing,
  paging: Paging,
  checkoutKeys: ReadonlyMap<string, string> = new Map(),
): Handlers<typeof BillingServiceService> {
  return {
    async getWallet(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      return { wallet: walletMessage(await billing.getWallet(userId, request.currency, request.rateMinor)) };
    },

    async listTransactions(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      const kind = toAccountKind(request.account) ?? "wallet";
      const page = paging.open(request, {
        query: ["billing.ListTransactions", userId, kind, request.currency],
        sizes: PAGE_SIZES,
        cursor: cursors.int64,
      });
      const entries = await billing.listTransactions({
        userId,
        kind,
        currency: request.currency,
        beforeEntryId: page.after,
        limit: page.size,
      });
      return {
        transactions: entries.map(transactionMessage),
        nextPageToken: page.next(entries.length === page.size ? entries.at(-1)?.entryId : undefined),
      };
    },

    async createTopUp(request, ctx) {
      const userId = subjectOf(ctx.principal, "");
      const { payment, checkout } = await billing.createTopUp(
        scopeOf(ctx.principal),
        userId,
        fromMoney(request.amount),
        request.provider,
        request.requestId,
      );
      return {
        payment: paymentMessage(payment),
        checkout: { ...checkout, keyId: checkoutKeys.get(checkout.provider) ?? "" },
      };
    },

    async verifyTopUp(request, ctx) {
      const userId = subjectOf(ctx.principal, "");
      uuidIfSet(request.paymentId, "payment_id");
      const result = await billing.verifyTopUp(userId, request);
      return { payment: paymentMessage(result.payment), credited: result.credited };
    },

    async receiveProviderWebhook(request) {
      const result = await billing.receiveWebhook({
        provider: request.provider,
        payload: Buffer.from(request.payload),
        headers: Object.fromEntries(
          Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
        ),
      });
      return {
        eventId: result.eventId,
        duplicate: result.duplicate,
        credited: result.credited,
        payment: result.payment && paymentMessage(result.payment),
      };
    },

    async confirmPayment(request) {
      uuidIfSet(request.paymentId, "payment_id");
      const result = await billing.confirmPayment({
        provider: request.provider,
        providerEventId: request.providerEventId,
        providerPaymentId: request.providerPaymentId,
        paymentId: request.paymentId,
        providerReference: request.providerReference,
        status: toPaymentStatus(request.status),
        amount: fromMoney(request.amount),
      });
      return { payment: paymentMessage(result.payment), credited: result.credited };
    },

    async setPayoutAccount(request, ctx) {
      const expertUserId = subjectOf(ctx.principal, "");
      const account = await billing.setPayoutAccount(expertUserId, {
        method: toPayoutMethod(request.method),
        holderName: request.holderName,
        accountNumber: request.accountNumber,
        ifsc: request.ifsc,
        upiId: request.upiId,
      });
      return { account: payoutAccountMessage(account) };
    },

    async getPayoutAccount(request, ctx) {
      const expertUserId = subjectOf(ctx.principal, request.expertUserId);
      const found = await billing.getPayoutAccount(expertUserId, request.currency);
      return {
        account: payoutAccountMessage(found.account),
        withdrawable: money(found.withdrawable, found.currency),
        pending: money(found.pending, found.currency),
      };
    },

    async setKycStatus(request) {
      const account = await billing.setKycStatus({
        expertUserId: request.expertUserId,
        status: toKycStatus(request.status),
        reason: request.reason,
      });
      return { account: payoutAccountMessage(account) };
    },

    async requestWithdrawal(request, ctx) {
      const expertUserId = subjectOf(ctx.principal, "");
      const payout = await billing.requestWithdrawal(scopeOf(ctx.principal), {
        expertUserId,
        amount: fromMoney(request.amount),
        requestId: request.requestId,
      });
      return { payout: payoutMessage(payout) };
    },

    async listPayouts(request, ctx) {
      const everyone = isStaff(ctx.principal) && !request.expertUserId;
      const expertUserId = everyone ? undefined : subjectOf(ctx.principal, request.expertUserId);
      const status = toPayoutStatus(request.status);
      const page = paging.open(request, {
        query: ["billing.ListPayouts", expertUserId ?? "*", status ?? "*"],
        sizes: PAGE_SIZES,
        cursor: cursors.uuid,
      });
      const payouts = await billing.listPayouts({
        expertUserId,
        status,
        beforePayoutId: page.after,
        limit: page.size,
      });
      return {
        payouts: payouts.map(payoutMessage),
        nextPageToken: page.next(payouts.length === page.size ? payouts.at(-1)?.payoutId : undefined),
      };
    },

    async retryPayout(request) {
      requireUuid(request.payoutId, "payout_id");
      return { payout: payoutMessage(await billing.retryPayout(request.payoutId)) };
    },

    async refundPayment(request, ctx) {
      requireUuid(request.paymentId, "payment_id");
      const refund = await billing.refundPayment(scopeOf(ctx.principal), {
        paymentId: request.paymentId,
        amount: fromMoney(request.amount),
        requestId: request.requestId,
      });
      return { refund: paymentRefundMessage(refund) };
    },

    async reconcilePayment(request) {
      requireUuid(request.paymentId, "payment_id");
      const result = await billing.reconcilePayment(request.paymentId);
      return {
        payment: paymentMessage(result.payment),
        credited: result.credited,
        findings: result.findings.map(findingMessage),
      };
    },

    async listPaymentFindings(request) {
      const page = paging.open(request, {
        query: ["billing.ListPaymentFindings", request.kind || "*"],
        sizes: PAGE_SIZES,
        cursor: cursors.uuid,
      });
      const findings = await billing.listPaymentFindings({
        kind: request.kind,
        beforeFindingId: page.after,
        limit: page.size,
      });
      return {
        findings: findings.map(findingMessage),
        nextPageToken: page.next(findings.length === page.size ? findings.at(-1)?.findingId : undefined),
      };
    },

    async placeHold(request, ctx) {
      const hold = await billing.placeHold(scopeOf(ctx.principal), {
        userId: request.userId,
        amount: fromMoney(request.amount),
        requestId: request.requestId,
        reference: request.reference,
        ttlSeconds: request.ttlSeconds,
      });
      return { hold: holdMessage(hold) };
    },

    async extendHold(request, ctx) {
      uuidIfSet(request.holdId, "hold_id");
      const hold = await billing.extendHold(scopeOf(ctx.principal), request);
      return { hold: holdMessage(hold) };
    },

    async captureHold(request, ctx) {
      uuidIfSet(request.holdId, "hold_id");
      const result = await billing.captureHold(scopeOf(ctx.principal), {
        holdId: request.holdId,
        amount: fromMoney(request.amount),
        payeeUserId: request.payeeUserId,
        requestId: request.requestId,
      });
      return { hold: holdMessage(result.hold), transactionId: result.transactionId };
    },

    async releaseHold(request, ctx) {
      uuidIfSet(request.holdId, "hold_id");
      return { hold: holdMessage(await billing.releaseHold(scopeOf(ctx.principal), request)) };
    },

    async charge(request, ctx) {
      uuidIfSet(request.holdId, "hold_id");
      return chargeMessage(await billing.charge(scopeOf(ctx.principal), chargeInput(request)));
    },

    async chargeBatch(request, ctx) {
      for (const [index, item] of request.items.entries()) uuidIfSet(item.holdId, `items[${index}].hold_id`);
      const outcomes = await billing.chargeBatch(scopeOf(ctx.principal), request.items.map(chargeInput));
      return { outcomes: outcomes.map(chargeOutcomeMessage) };
    },

    async settleSession(request) {
      uuidIfSet(request.holdId, "hold_id");
      const invoice = await billing.settleSession({
        sessionId: request.sessionId,
        payerUserId: request.payerUserId,
        payeeUserId: request.payeeUserId,
        holdId: request.holdId,
        rate: fromMoney(request.rate),
        kind: toSessionKind(request.kind),
      });
      return { invoice: invoiceMessage(invoice) };
    },

    async refund(request, ctx) {
      const refund = await billing.refund(scopeOf(ctx.principal), {
        sessionId: request.sessionId,
        amount: fromMoney(request.amount),
        reason: toRefundReason(request.reason),
        note: request.note,
        requestId: request.requestId,
      });
      return { refund: refundMessage(refund) };
    },

    async grantCredit(request, ctx) {
      const result = await billing.grantCredit(scopeOf(ctx.principal), {
        userId: request.userId,
        amount: fromMoney(request.amount),
        note: request.note,
        requestId: request.requestId,
        ...(ctx.principal.kind === "user" ? { actorUserId: ctx.principal.userId } : {}),
      });
      return { transactionId: result.transactionId, wallet: walletMessage(result.wallet) };
    },

    async listInvoices(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      const page = paging.open(request, {
        query: ["billing.ListInvoices", userId],
        sizes: PAGE_SIZES,
        cursor: cursors.uuid,
      });
      const invoices = await billing.listInvoices(userId, page.after, page.size);
      return {
        invoices: invoices.map(invoiceMessage),
        nextPageToken: page.next(invoices.length === page.size ? invoices.at(-1)?.invoiceId : undefined),
      };
    },

    async getInvoice(request, ctx) {
      const viewer = { userId: subjectOf(ctx.principal, ""), staff: isStaff(ctx.principal) };
      requireUuid(request.invoiceId, "invoice_id");
      return { invoice: invoiceMessage(await billing.getInvoice(request.invoiceId, viewer)) };
    },

    async getEarnings(request, ctx) {
      const expertUserId = subjectOf(ctx.principal, request.expertUserId);
      return { earnings: toEarningsMessage(await billing.getEarnings(expertUserId, request.currency)) };
    },
  };
}

const toEarningsMessage = (earnings: Awaited<ReturnType<Billing["getEarnings"]>>) => ({
  expertUserId: earnings.expertUserId,
  balance: money(earnings.balance, earnings.currency),
  earned: money(earnings.earned, earnings.currency),
  refunded: money(earnings.refunded, earnings.currency),
});
