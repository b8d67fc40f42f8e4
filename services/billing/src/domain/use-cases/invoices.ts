import { notFound } from "@parley/kit/errors";
import { invoiceOf } from "../invoices";
import type { Earnings, Invoice } from "../model";
import type { Core } from "./core";

/** What settled sessions leave: invoices, and the experts' earnings. */
export function invoices(core: Core) {
  const { store, currencyOr } = core;

  return {
    async listInvoices(
      userId: string,
      beforeInvoiceId: string | undefined,
      limit: number,
    ): Promise<Invoice[]> {
      const found = await store.invoices.list({ userId, beforeInvoiceId, limit });
      return found.map(({ record, refunds }) => invoiceOf(record, refunds));
    },

    /** Only the payer, the payee or staff see an invoice; anyone else gets NOT_FOUND (no probing). */
    async getInvoice(invoiceId: string, viewer: { userId: string; staff: boolean }): Promise<Invoice> {
      const found = await store.invoices.get(invoiceId);
      const invoice = found && invoiceOf(found.record, found.refunds);
      const visible =
        invoice &&
        (viewer.staff || invoice.payerUserId === viewer.userId || invoice.payeeUserId === viewer.userId);
      if (!visible) throw notFound("INVOICE_NOT_FOUND", `no invoice ${invoiceId}`);
      return invoice;
    },

    getEarnings(expertUserId: string, currency: string): Promise<Earnings> {
      return store.earnings.read(expertUserId, currencyOr(currency));
    },
  };
}
