import { isStaff, type Principal } from "@parley/kit/auth";
import { invalidArgument, permissionDenied } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { isUuid } from "@parley/kit/ids";
import { AccountKind, type BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import type { Billing } from "../domain/billing";
import {
  chargeInput,
  chargeMessage,
  chargeOutcomeMessage,
  decodePageToken,
  encodePageToken,
  fromMoney,
  holdMessage,
  invoiceMessage,
  money,
  pageSize,
  paymentMessage,
  refundMessage,
  toPaymentStatus,
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

const requireUuid = (value: string, field: string) => {
  if (value && !isUuid(value)) throw invalidArgument("VALIDATION_FAILED", `${field} must be a UUID`);
};

export function billingHandlers(billing: Billing): Handlers<typeof BillingServiceService> {
  return {
    async getWallet(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      return { wallet: walletMessage(await billing.getWallet(userId, request.currency, request.rateMinor)) };
    },

    async listTransactions(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      const limit = pageSize(request.pageSize);
      const cursor = decodePageToken(request.pageToken, (value) => /^\d+$/.test(value));
      const entries = await billing.listTransactions({
        userId,
        kind: request.account === AccountKind.ACCOUNT_KIND_EARNINGS ? "earnings" : "wallet",
        currency: request.currency,
        beforeEntryId: cursor === undefined ? undefined : BigInt(cursor),
        limit,
      });
      const last = entries.at(-1);
      return {
        transactions: entries.map(transactionMessage),
        nextPageToken: entries.length === limit && last ? encodePageToken(last.entryId.toString()) : "",
      };
    },

    async createTopUp(request, ctx) {
      const userId = subjectOf(ctx.principal, "");
      const payment = await billing.createTopUp(
        scopeOf(ctx.principal),
        userId,
        fromMoney(request.amount),
        request.provider,
        request.requestId,
      );
      return { payment: paymentMessage(payment) };
    },

    async confirmPayment(request) {
      requireUuid(request.paymentId, "payment_id");
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
      requireUuid(request.holdId, "hold_id");
      const hold = await billing.extendHold(scopeOf(ctx.principal), request);
      return { hold: holdMessage(hold) };
    },

    async captureHold(request, ctx) {
      requireUuid(request.holdId, "hold_id");
      const result = await billing.captureHold(scopeOf(ctx.principal), {
        holdId: request.holdId,
        amount: fromMoney(request.amount),
        payeeUserId: request.payeeUserId,
        requestId: request.requestId,
      });
      return { hold: holdMessage(result.hold), transactionId: result.transactionId };
    },

    async releaseHold(request, ctx) {
      requireUuid(request.holdId, "hold_id");
      return { hold: holdMessage(await billing.releaseHold(scopeOf(ctx.principal), request)) };
    },

    async charge(request, ctx) {
      requireUuid(request.holdId, "hold_id");
      return chargeMessage(await billing.charge(scopeOf(ctx.principal), chargeInput(request)));
    },

    async chargeBatch(request, ctx) {
      for (const [index, item] of request.items.entries())
        requireUuid(item.holdId, `items[${index}].hold_id`);
      const outcomes = await billing.chargeBatch(scopeOf(ctx.principal), request.items.map(chargeInput));
      return { outcomes: outcomes.map(chargeOutcomeMessage) };
    },

    async settleSession(request) {
      requireUuid(request.holdId, "hold_id");
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
      });
      return { transactionId: result.transactionId, wallet: walletMessage(result.wallet) };
    },

    async listInvoices(request, ctx) {
      const userId = subjectOf(ctx.principal, request.userId);
      const limit = pageSize(request.pageSize);
      const cursor = decodePageToken(request.pageToken, isUuid);
      const invoices = await billing.listInvoices(userId, cursor, limit);
      const last = invoices.at(-1);
      return {
        invoices: invoices.map(invoiceMessage),
        nextPageToken: invoices.length === limit && last ? encodePageToken(last.invoiceId) : "",
      };
    },

    async getInvoice(request, ctx) {
      const viewer = { userId: subjectOf(ctx.principal, ""), staff: isStaff(ctx.principal) };
      if (!isUuid(request.invoiceId)) throw invalidArgument("VALIDATION_FAILED", "invoice_id must be a UUID");
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
