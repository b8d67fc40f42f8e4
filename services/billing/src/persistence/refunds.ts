import { enqueueOutbox } from "@parley/kit/outbox";
import type { RefundStore } from "../domain/ports";
import { sessionChargesNotFound } from "../domain/refunds";
import { idempotent, lockWallet, planWrites } from "./ledger";
import { NOTIFICATION_OUTBOX } from "./payments";
import { type PlatformAccounts, pipelined, type Sql } from "./sql";

/** Refunds of session charges. */
export function createRefundStore(sql: Sql, platform: PlatformAccounts): RefundStore {
  return {
    /**
     * The payer's wallet lock serialises refunds of a session (and orders them against its
     * charges); the payee's earnings are locked after it (a withdrawal committing in between
     * would otherwise take them below what the plan counted on), then the session's totals.
     */
    async refund(key, target, plan) {
      return (await sql.begin((tx) =>
        idempotent(tx, key, async () => {
          const [session] = await tx<{ payer_user_id: string; payee_user_id: string; currency: string }[]>`
            select payer_user_id, payee_user_id, currency from billing.charges
            where session_id = ${target.sessionId} limit 1`;
          if (!session) throw sessionChargesNotFound(target.sessionId);
          const wallet = await lockWallet(
            tx,
            { userId: session.payer_user_id, currency: session.currency },
            { create: true },
          );
          const [totals] = await tx<
            { charged: bigint; commission: bigint; refunded: bigint; reversed: bigint; earnings: bigint }[]
          >`
            select
              (select coalesce(sum(amount), 0)::int8 from billing.charges where session_id = ${target.sessionId}) as charged,
              (select coalesce(sum(commission), 0)::int8 from billing.charges where session_id = ${target.sessionId}) as commission,
              (select coalesce(sum(amount), 0)::int8 from billing.refunds where session_id = ${target.sessionId}) as refunded,
              (select coalesce(sum(commission_reversed), 0)::int8 from billing.refunds where session_id = ${target.sessionId}) as reversed,
              (select coalesce(sum(balance), 0)::int8 from (
                select balance from billing.accounts
                where kind = 'earnings' and owner_id = ${session.payee_user_id} and currency = ${session.currency}
                for update) e) as earnings`;
          const decided = plan({
            sessionId: target.sessionId,
            payerUserId: session.payer_user_id,
            payeeUserId: session.payee_user_id,
            currency: session.currency,
            charged: totals!.charged,
            commission: totals!.commission,
            refunded: totals!.refunded,
            commissionReversed: totals!.reversed,
            wallet,
            earnings: totals!.earnings,
          });
          const refund = decided.result;
          await pipelined([
            ...(await planWrites(tx, decided, target.now, platform)),
            tx`
              insert into billing.refunds (id, session_id, payer_user_id, payee_user_id, currency, amount,
                earnings_reversed, commission_reversed, reason, note, transaction_id, created_at)
              values (${refund.refundId}, ${refund.sessionId}, ${refund.payerUserId}, ${decided.payeeUserId},
                ${refund.currency}, ${refund.amount}, ${decided.earningsReversed}, ${decided.commissionReversed},
                ${refund.reason}, ${refund.note}, ${refund.transactionId}, ${refund.createdAt})`,
          ]);
          await enqueueOutbox(tx, NOTIFICATION_OUTBOX, [
            {
              id: `${refund.refundId}:issued`,
              payload: {
                userId: refund.payerUserId,
                kind: "refund_issued",
                data: {
                  refund_id: refund.refundId,
                  session_id: refund.sessionId,
                  amount_minor: String(refund.amount),
                  currency: refund.currency,
                },
              },
            },
          ]);
          return refund;
        }),
      )) as Awaited<ReturnType<typeof plan>>["result"];
    },
  };
}
