import { newId } from "@parley/kit/ids";
import type { InvoiceRecord } from "../domain/invoices";
import type { SessionKind } from "../domain/model";
import type { InvoiceStore } from "../domain/ports";
import { lockWallet, walletWrites } from "./ledger";
import { array, pipelined, type Sql, type Tx } from "./sql";

interface InvoiceRow {
  id: string;
  session_id: string;
  payer_user_id: string;
  payee_user_id: string;
  kind: SessionKind;
  currency: string;
  rate: bigint;
  minutes: number;
  charged: bigint;
  settle_hash: string;
  created_at: Date;
}

const toRecord = (row: InvoiceRow): InvoiceRecord => ({
  invoiceId: row.id,
  sessionId: row.session_id,
  payerUserId: row.payer_user_id,
  payeeUserId: row.payee_user_id,
  kind: row.kind,
  currency: row.currency,
  rate: row.rate,
  minutes: BigInt(row.minutes),
  charged: row.charged,
  settleHash: row.settle_hash,
  createdAt: row.created_at,
});

type Refunds = { amount: bigint; reason: string }[];

/** Invoices with the refunds of their sessions, in one more statement for any number of them. */
async function withRefunds(tx: Tx | Sql, rows: readonly InvoiceRow[]) {
  const refunds = await tx<{ session_id: string; amount: bigint; reason: string }[]>`
    select session_id, amount, reason from billing.refunds
    where session_id = any(${array(rows.map((row) => row.session_id))}::text[])
    order by id`;
  return rows.map((row) => ({
    record: toRecord(row),
    refunds: refunds.filter((refund) => refund.session_id === row.session_id) as Refunds,
  }));
}

/** Invoices: one per settled session. */
export function createInvoiceStore(sql: Sql): InvoiceStore {
  return {
    /**
     * The unique session_id makes a second settlement find the first. The payer's wallet lock
     * orders settlement against this session's charges still in flight: one that locked it
     * first is counted, one that comes later finds the invoice and is refused.
     */
    async settle(invoice, plan) {
      return (await sql.begin(async (tx) => {
        const claimed = await tx<InvoiceRow[]>`
          insert into billing.invoices (id, session_id, payer_user_id, payee_user_id, kind, currency, rate, minutes,
            charged, settle_hash, created_at)
          values (${newId()}, ${invoice.sessionId}, ${invoice.payerUserId}, ${invoice.payeeUserId}, ${invoice.kind},
                  ${invoice.currency}, ${invoice.rate}, 0, 0, ${invoice.settleHash}, ${invoice.now})
          on conflict (session_id) do nothing
          returning *`;
        if (claimed.length === 0) {
          const [existing] = await tx<InvoiceRow[]>`
            select * from billing.invoices where session_id = ${invoice.sessionId}`;
          return { ...(await withRefunds(tx, [existing!]))[0]!, created: false };
        }
        const wallet = await lockWallet(
          tx,
          { userId: invoice.payerUserId, currency: invoice.currency },
          { create: false, holdIds: invoice.holdId ? [invoice.holdId] : [] },
        );
        const changes = plan(wallet);
        const results = await pipelined([
          ...(changes ? walletWrites(tx, [changes]) : []),
          tx<InvoiceRow[]>`
            update billing.invoices set
              minutes = (select count(*) from billing.charges where session_id = ${invoice.sessionId}),
              charged = (select coalesce(sum(amount), 0) from billing.charges where session_id = ${invoice.sessionId})
            where id = ${claimed[0]!.id} returning *`,
        ]);
        const [row] = results.at(-1) as InvoiceRow[];
        return { ...(await withRefunds(tx, [row!]))[0]!, created: true };
      })) as Awaited<ReturnType<InvoiceStore["settle"]>>;
    },

    async list(input) {
      const rows = await sql<InvoiceRow[]>`
        select * from billing.invoices
        where (payer_user_id = ${input.userId} or payee_user_id = ${input.userId})
          and id < ${input.beforeInvoiceId ?? "ffffffff-ffff-ffff-ffff-ffffffffffff"}
        order by id desc limit ${input.limit}`;
      return withRefunds(sql, rows);
    },

    async get(invoiceId) {
      const [row] = await sql<InvoiceRow[]>`select * from billing.invoices where id = ${invoiceId}`;
      return row ? (await withRefunds(sql, [row]))[0] : undefined;
    },
  };
}
