import { notFound } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { enqueueOutbox } from "@parley/kit/outbox";
import type {
  Payment,
  PaymentFinding,
  PaymentFindingKind,
  PaymentRefund,
  PaymentRefundStatus,
  PaymentStatus,
} from "../domain/model";
import type { PaymentStore } from "../domain/ports";
import { idempotent, lockWallet, planWrites, readWallet } from "./ledger";
import { claimDue, type PlatformAccounts, pipelined, type Sql } from "./sql";

interface PaymentRow {
  id: string;
  user_id: string;
  currency: string;
  amount: bigint;
  status: PaymentStatus;
  provider: string;
  provider_reference: string;
  provider_payment_id: string | null;
  failure_reason: string | null;
  client_secret: string | null;
  created_at: Date;
  updated_at: Date;
}

const toPayment = (row: PaymentRow): Payment => ({
  paymentId: row.id,
  userId: row.user_id,
  currency: row.currency,
  amount: row.amount,
  status: row.status,
  provider: row.provider,
  providerReference: row.provider_reference,
  providerPaymentId: row.provider_payment_id ?? "",
  failureReason: row.failure_reason ?? "",
  clientSecret: row.client_secret ?? "",
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

interface FindingRow {
  id: string;
  payment_id: string;
  kind: PaymentFindingKind;
  provider_payment_id: string;
  provider_refund_id: string;
  amount: bigint;
  currency: string;
  created_at: Date;
}

const toFinding = (row: FindingRow): PaymentFinding => ({
  findingId: row.id,
  paymentId: row.payment_id,
  kind: row.kind,
  providerPaymentId: row.provider_payment_id,
  providerRefundId: row.provider_refund_id,
  amount: row.amount,
  currency: row.currency,
  createdAt: row.created_at,
});

/** Notification intents (top_up_credited, refund_issued) for the kit's notification relay (server.ts). */
export const NOTIFICATION_OUTBOX = "billing.notification_outbox";

interface RefundRow {
  id: string;
  payment_id: string;
  currency: string;
  amount: bigint;
  status: PaymentRefundStatus;
  provider_refund_id: string | null;
  created_at: Date;
  updated_at: Date;
}

const toRefund = (row: RefundRow): PaymentRefund => ({
  refundId: row.id,
  paymentId: row.payment_id,
  currency: row.currency,
  amount: row.amount,
  status: row.status,
  providerRefundId: row.provider_refund_id ?? "",
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Top-ups: payments created pending and moved by provider events. */
export function createPaymentStore(sql: Sql, platform: PlatformAccounts): PaymentStore {
  return {
    async create(key, payment, check) {
      return (await sql.begin((tx) =>
        idempotent(tx, key, async () => {
          check(await readWallet(tx, payment.userId, payment.currency));
          const [row] = await tx<PaymentRow[]>`
            insert into billing.payments (id, user_id, currency, amount, status, provider, provider_reference,
              created_at, updated_at)
            values (${payment.paymentId}, ${payment.userId}, ${payment.currency}, ${payment.amount}, ${payment.status},
              ${payment.provider}, ${payment.providerReference}, ${payment.createdAt}, ${payment.updatedAt})
            returning *`;
          return toPayment(row!);
        }),
      )) as Payment;
    },

    async get(paymentId) {
      const [row] = await sql<PaymentRow[]>`select * from billing.payments where id = ${paymentId}`;
      return row && toPayment(row);
    },

    async attach(paymentId, checkout) {
      const [row] = await sql<PaymentRow[]>`
        update billing.payments
        set provider_reference = ${checkout.providerReference}, client_secret = ${checkout.clientSecret || null}
        where id = ${paymentId} and provider_reference = 'parley_' || id::text
        returning *`;
      if (row) return toPayment(row);
      const [current] = await sql<PaymentRow[]>`select * from billing.payments where id = ${paymentId}`;
      return toPayment(current!);
    },

    async recordFinding(finding) {
      return (await sql.begin(async (tx) => {
        const matched = await tx<PaymentRow[]>`
          select * from billing.payments
          where provider = ${finding.provider}
            and (provider_payment_id = ${finding.providerPaymentId} or provider_reference = ${finding.providerReference})
          order by (provider_payment_id = ${finding.providerPaymentId}) desc nulls last
          limit 1`;
        // A second capture (never credited) is known only by its duplicate_capture finding.
        const [row] =
          matched.length > 0 || !finding.providerPaymentId
            ? matched
            : await tx<PaymentRow[]>`
                select p.* from billing.payment_findings f join billing.payments p on p.id = f.payment_id
                where f.kind = 'duplicate_capture' and f.provider_payment_id = ${finding.providerPaymentId}
                  and p.provider = ${finding.provider}
                limit 1`;
        if (!row) throw notFound("PAYMENT_NOT_FOUND", "no payment matches this provider payment");
        const recorded = await tx`
          insert into billing.payment_findings
            (id, payment_id, kind, provider_payment_id, provider_refund_id, amount, currency, created_at)
          values (${newId()}, ${row.id}, ${finding.kind}, ${finding.providerPaymentId},
            ${finding.providerRefundId ?? ""}, ${finding.amount}, ${finding.currency}, ${finding.now})
          on conflict (payment_id, kind, provider_payment_id, provider_refund_id) do nothing
          returning 1`;
        return { payment: toPayment(row), recorded: recorded.length === 1 };
      })) as { payment: Payment; recorded: boolean };
    },

    async findings(paymentId) {
      const rows = await sql<FindingRow[]>`
        select * from billing.payment_findings where payment_id = ${paymentId} order by created_at, id`;
      return rows.map(toFinding);
    },

    async listFindings({ kind, beforeFindingId, limit }) {
      const rows = await sql<FindingRow[]>`
        select * from billing.payment_findings
        where id < ${beforeFindingId ?? "ffffffff-ffff-ffff-ffff-ffffffffffff"}
          ${kind === undefined ? sql`` : sql`and kind = ${kind}`}
        order by id desc limit ${limit}`;
      return rows.map(toFinding);
    },

    async refund(key, target, plan) {
      return (await sql.begin((tx) =>
        idempotent(tx, key, async () => {
          const [row] = await tx<
            PaymentRow[]
          >`select * from billing.payments where id = ${target.paymentId} for update`;
          if (!row) throw notFound("PAYMENT_NOT_FOUND", `no payment ${target.paymentId}`);
          const payment = toPayment(row);
          const [sum] = await tx<{ refunded: bigint }[]>`
            select coalesce(sum(amount), 0)::int8 as refunded from billing.payment_refunds
            where payment_id = ${payment.paymentId} and status <> 'failed'`;
          const wallet = await lockWallet(
            tx,
            { userId: payment.userId, currency: payment.currency },
            { create: true },
          );
          const decided = plan(wallet, payment, sum!.refunded);
          const r = decided.result;
          await pipelined([
            ...(await planWrites(tx, decided, target.now, platform)),
            tx`
              insert into billing.payment_refunds (id, payment_id, currency, amount, status, created_at, updated_at)
              values (${r.refundId}, ${r.paymentId}, ${r.currency}, ${r.amount}, ${r.status}, ${r.createdAt}, ${r.updatedAt})`,
          ]);
          return r;
        }),
      )) as PaymentRefund;
    },

    async refundSent(refundId, providerRefundId, now) {
      const [row] = await sql<RefundRow[]>`
        update billing.payment_refunds
        set provider_refund_id = coalesce(provider_refund_id, ${providerRefundId}), updated_at = ${now}
        where id = ${refundId} returning *`;
      return toRefund(row!);
    },

    async getRefund(refundId) {
      const [row] = await sql<RefundRow[]>`select * from billing.payment_refunds where id = ${refundId}`;
      return row && toRefund(row);
    },

    async settleRefund(target, plan) {
      return (await sql.begin(async (tx) => {
        const [found] = await tx<RefundRow[]>`
          select * from billing.payment_refunds where id = ${target.refundId}`;
        if (!found) throw notFound("REFUND_NOT_FOUND", "no refund matches this provider event");
        const [payment] = await tx<
          PaymentRow[]
        >`select * from billing.payments where id = ${found.payment_id}`;
        // Wallet first (the order every move takes), then the refund row.
        const wallet = await lockWallet(
          tx,
          { userId: payment!.user_id, currency: payment!.currency },
          { create: true },
        );
        const [row] = await tx<
          RefundRow[]
        >`select * from billing.payment_refunds where id = ${found.id} for update`;
        const refund = toRefund(row!);
        const decided = plan(wallet, refund);
        if (!decided) return { refund, changed: false };
        const r = decided.result;
        const results = await pipelined([
          ...(await planWrites(tx, decided, target.now, platform)),
          tx<RefundRow[]>`
            update billing.payment_refunds set status = ${r.status}, updated_at = ${r.updatedAt},
              provider_refund_id = coalesce(provider_refund_id, ${target.providerRefundId || null})
            where id = ${r.refundId} returning *`,
        ]);
        return { refund: toRefund((results.at(-1) as RefundRow[])[0]!), changed: true };
      })) as { refund: PaymentRefund; changed: boolean };
    },

    async claimDue(claim) {
      const rows = await claimDue<PaymentRow>(sql, "payments", claim);
      return rows.map(toPayment);
    },

    async claimDueRefunds(claim) {
      const refunds = await claimDue<RefundRow>(sql, "payment_refunds", claim);
      if (refunds.length === 0) return [];
      const payments = await sql<PaymentRow[]>`
        select * from billing.payments where id = any(${refunds.map((row) => row.payment_id)}::uuid[])`;
      const byId = new Map(payments.map((row) => [row.id, toPayment(row)]));
      return refunds
        .map((row) => ({ refund: toRefund(row), payment: byId.get(row.payment_id)! }))
        .sort((a, b) => a.refund.createdAt.getTime() - b.refund.createdAt.getTime());
    },

    /**
     * The payment row is locked first, so every event for one payment (replays or not)
     * serialises; the event id is then recorded (a replay finds it recorded) and the domain
     * decides. The wallet is locked only for a credit.
     */
    async confirm(event, decide, credit) {
      return (await sql.begin(async (tx) => {
        const [found] = event.paymentId
          ? await tx<{ id: string }[]>`
              select id from billing.payments where id = ${event.paymentId} and provider = ${event.provider}`
          : await tx<{ id: string }[]>`
              select id from billing.payments
              where provider = ${event.provider} and provider_reference = ${event.providerReference}`;
        if (!found) throw notFound("PAYMENT_NOT_FOUND", "no payment matches this provider event");
        // Payment row first: the event's foreign key would otherwise share-lock it and two events deadlock.
        const [row] = await tx<
          PaymentRow[]
        >`select * from billing.payments where id = ${found.id} for update`;
        const payment = toPayment(row!);
        const recorded = await tx`
          insert into billing.payment_events (provider, provider_event_id, payment_id, status, received_at)
          values (${event.provider}, ${event.providerEventId}, ${found.id}, ${event.status}, ${event.now})
          on conflict (provider, provider_event_id) do nothing
          returning 1`;
        const duplicate = recorded.length === 0;
        const decision = decide(payment, !duplicate);
        if (decision.kind === "keep") return { payment, credited: false, duplicate };
        if (decision.kind === "flag") {
          await tx`
            insert into billing.payment_findings (id, payment_id, kind, provider_payment_id, amount, currency, created_at)
            values (${newId()}, ${found.id}, ${decision.finding}, ${event.providerPaymentId}, ${payment.amount},
              ${payment.currency}, ${event.now})
            on conflict (payment_id, kind, provider_payment_id, provider_refund_id) do nothing`;
          return { payment, credited: false, duplicate };
        }
        const update = (
          status: PaymentStatus,
          change: { creditTransactionId?: string; failureReason?: string } = {},
        ) => tx<PaymentRow[]>`
          update billing.payments set status = ${status}, updated_at = ${event.now},
            credit_transaction_id = coalesce(${change.creditTransactionId ?? null}::uuid, credit_transaction_id),
            failure_reason = ${change.failureReason ?? null},
            provider_payment_id = coalesce(${event.providerPaymentId || null}, provider_payment_id)
          where id = ${found.id} returning *`;
        if (decision.kind === "mark") {
          const [updated] = await update(decision.status);
          return { payment: toPayment(updated!), credited: false, duplicate };
        }
        const wallet = await lockWallet(
          tx,
          { userId: payment.userId, currency: payment.currency },
          { create: true },
        );
        const plan = credit(wallet, payment);
        if ("failureReason" in plan.result) {
          const [updated] = await update("failed", { failureReason: plan.result.failureReason });
          await tx`
            insert into billing.payment_findings (id, payment_id, kind, provider_payment_id, amount, currency, created_at)
            values (${newId()}, ${found.id}, 'uncredited_capture', ${event.providerPaymentId}, ${payment.amount},
              ${payment.currency}, ${event.now})
            on conflict (payment_id, kind, provider_payment_id, provider_refund_id) do nothing`;
          return { payment: toPayment(updated!), credited: false, duplicate };
        }
        const results = await pipelined([
          ...(await planWrites(tx, plan, event.now, platform)),
          update("succeeded", { creditTransactionId: plan.result.transactionId }),
          // Credited after all (a later word of the same capture, once the wallet had room):
          // nothing is left for staff to refund of it (another capture's finding stays).
          tx`delete from billing.payment_findings where payment_id = ${found.id} and kind = 'uncredited_capture'
            and provider_payment_id = ${event.providerPaymentId}`,
        ]);
        // The payer hears of the credit; the row commits with it (or not at all).
        await enqueueOutbox(tx, NOTIFICATION_OUTBOX, [
          {
            id: `${payment.paymentId}:credited`,
            payload: {
              userId: payment.userId,
              kind: "top_up_credited",
              data: {
                payment_id: payment.paymentId,
                amount_minor: String(payment.amount),
                currency: payment.currency,
              },
            },
          },
        ]);
        const [updated] = results.at(-2) as PaymentRow[];
        return { payment: toPayment(updated!), credited: true, duplicate };
      })) as { payment: Payment; credited: boolean; duplicate: boolean };
    },
  };
}
