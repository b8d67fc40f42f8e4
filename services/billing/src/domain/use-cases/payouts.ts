import { failedPrecondition, isAppError, notFound } from "@parley/kit/errors";
import { walletFrozen } from "../ledger";
import type { IdempotencyScope, Money } from "../model";
import {
  type KycStatus,
  type Payout,
  type PayoutAccount,
  type PayoutMethod,
  type PayoutStatus,
  payoutDetailsOf,
  payoutReference,
  planPayoutOutcome,
  planRetry,
  planWithdrawal,
} from "../payouts";
import type { Core } from "./core";

const payoutsNotConfigured = () =>
  failedPrecondition("PAYOUTS_NOT_CONFIGURED", "payouts are not configured here");

/** Experts' payouts: the payout account and its KYC, withdrawals, automatic payouts, retries. */
export function payouts(core: Core) {
  const { store, now, checks, currencyOr, key } = core;

  const withdrawalContext = (at: Date) => ({
    now: at,
    tdsBps: core.tdsBps ?? 0n,
    minPayout: core.minPayout ?? 1n,
  });

  /**
   * Sends a processing payout that has no provider id yet to the payout rail (idempotent by the
   * attempt's reference), to the account verified when it was taken, and applies what the rail answers at once (the development rail pays at
   * once). A rail that does not answer leaves it processing, for RetryPayout. One that refuses it
   * (PROVIDER_REFUSED: its amount or details) and has nothing under its reference (an earlier
   * send whose answer was lost may have made it: a send again with other details is refused)
   * made nothing, so it fails, back to earnings.
   */
  const send = async (payout: Payout): Promise<Payout> => {
    const rail = core.payoutProvider;
    if (!rail || payout.status !== "processing" || payout.providerPayoutId) return payout;
    // Where it was bound when taken: never to details changed since (not verified yet).
    const destination = await store.payouts.destination(payout);
    if (!destination) return payout;
    const reference = payoutReference(payout);
    const outcome = await core.sendOrFind(
      () =>
        rail.createPayout({
          reference,
          expertUserId: payout.expertUserId,
          amount: payout.net,
          currency: payout.currency,
          ...destination,
        }),
      () => rail.findPayout({ providerPayoutId: "", reference }),
    );
    const answer =
      "answer" in outcome
        ? outcome.answer
        : { providerPayoutId: "", status: "failed" as const, failureReason: outcome.refused.message };
    const sent = answer.providerPayoutId
      ? await store.payouts.sent(payout, answer.providerPayoutId, now())
      : payout;
    if (answer.status === "processing") return sent;
    return settlePayout({
      payoutId: sent.payoutId,
      attempt: payout.attempt,
      providerPayoutId: answer.providerPayoutId,
      status: answer.status,
      failureReason: answer.failureReason,
    });
  };

  const settlePayout = async (outcome: {
    payoutId: string;
    attempt: number;
    providerPayoutId: string;
    status: Exclude<PayoutStatus, "processing">;
    failureReason: string;
  }) => {
    const at = now();
    const { payout } = await store.payouts.settle(
      { payoutId: outcome.payoutId, providerPayoutId: outcome.providerPayoutId, now: at },
      (current) => planPayoutOutcome(current, outcome, at),
    );
    return payout;
  };

  const useCases = {
    async setPayoutAccount(
      expertUserId: string,
      input: {
        method: PayoutMethod | undefined;
        holderName: string;
        accountNumber: string;
        ifsc: string;
        upiId: string;
      },
    ): Promise<PayoutAccount> {
      const { details, masked } = payoutDetailsOf(input.method, input);
      return store.payouts.setAccount(
        {
          expertUserId,
          method: input.method!,
          holderName: input.holderName.trim(),
          masked,
          kycStatus: "pending",
          kycReason: "",
          updatedAt: now(),
        },
        details,
      );
    },

    async getPayoutAccount(expertUserId: string, currency: string) {
      const account = await store.payouts.getAccount(expertUserId);
      if (!account) throw notFound("PAYOUT_ACCOUNT_NOT_FOUND", "no payout account yet");
      const chosen = currencyOr(currency);
      const [earnings, pending] = await Promise.all([
        store.earnings.read(expertUserId, chosen),
        store.payouts.pendingTotal(expertUserId, chosen),
      ]);
      return { account, currency: chosen, withdrawable: earnings.balance, pending };
    },

    async setKycStatus(input: { expertUserId: string; status: KycStatus | undefined; reason: string }) {
      checks()
        .require(input.expertUserId.length > 0, "expert_user_id", "required")
        .require(input.status !== undefined, "status", "required")
        .require(
          input.status !== "rejected" || input.reason.trim().length > 0,
          "reason",
          "required for a rejection",
        )
        .done();
      const account = await store.payouts.setKyc({
        expertUserId: input.expertUserId,
        status: input.status!,
        reason: input.status === "rejected" ? input.reason.trim() : "",
        now: now(),
      });
      if (!account) throw notFound("PAYOUT_ACCOUNT_NOT_FOUND", `no payout account for ${input.expertUserId}`);
      return account;
    },

    /**
     * A withdrawal: earnings → payout clearing in one transaction under the earnings row's lock
     * (idempotent by request id), then sent to the payout rail outside it.
     */
    async requestWithdrawal(
      scope: IdempotencyScope,
      input: { expertUserId: string; amount: Money | undefined; requestId: string; automatic?: boolean },
    ): Promise<Payout> {
      checks().positiveMoney(input.amount, "amount").requestId(input.requestId).done();
      // A fast refusal; the decisive check is planWithdrawal's, under the earnings row lock.
      if (await store.freezes.isFrozen(input.expertUserId)) throw walletFrozen(input.expertUserId);
      if (!core.payoutProvider) throw payoutsNotConfigured();
      const at = now();
      const payout = await store.payouts.withdraw(
        key(scope, "withdraw", input.requestId, { expertUserId: input.expertUserId, amount: input.amount }),
        { expertUserId: input.expertUserId, currency: input.amount!.currency, now: at },
        (snapshot) =>
          planWithdrawal(
            snapshot,
            {
              expertUserId: input.expertUserId,
              currency: input.amount!.currency,
              amount: input.amount!.amountMinor,
              automatic: input.automatic ?? false,
            },
            withdrawalContext(at),
          ),
      );
      const current = (await store.payouts.get(payout.payoutId)) ?? payout;
      try {
        return await send(current);
      } catch (error) {
        if (!isAppError(error, "PROVIDER_UNAVAILABLE")) throw error;
        return current;
      }
    },

    async listPayouts(input: {
      expertUserId: string | undefined;
      status: PayoutStatus | undefined;
      beforePayoutId: string | undefined;
      limit: number;
    }): Promise<Payout[]> {
      return store.payouts.list(input);
    },

    /** A failed payout taken from earnings again and sent; one never acknowledged, sent again. */
    async retryPayout(payoutId: string): Promise<Payout> {
      // Nothing would send it: a failed one stays in earnings rather than wait in clearing.
      if (!core.payoutProvider) throw payoutsNotConfigured();
      const payout = await store.payouts.get(payoutId);
      if (!payout) throw notFound("PAYOUT_NOT_FOUND", `no payout ${payoutId}`);
      if (payout.status === "processing" && !payout.providerPayoutId) {
        // Already in clearing, only its sending left: not to a frozen person either.
        if (await store.freezes.isFrozen(payout.expertUserId)) throw walletFrozen(payout.expertUserId);
        return send(payout);
      }
      if (payout.status !== "failed")
        throw failedPrecondition("PAYOUT_NOT_RETRYABLE", `payout ${payoutId} is ${payout.status}`, {
          metadata: { status: payout.status },
        });
      const at = now();
      const retried = await store.payouts.retry(payoutId, at, (current, snapshot) => {
        if (current.status !== "failed")
          throw failedPrecondition("PAYOUT_NOT_RETRYABLE", `payout ${payoutId} is ${current.status}`, {
            metadata: { status: current.status },
          });
        return planRetry(current, snapshot, withdrawalContext(at));
      });
      return send(retried);
    },

    /**
     * The automatic payout: every verified expert whose earnings reach `threshold` withdraws them
     * all, once per `period` (the request id names the period, so instances and restarts agree).
     * Without a payout rail, nobody.
     */
    async runAutomaticPayouts(input: {
      currency: string;
      threshold: bigint;
      /** The period's name (in the request id) and when it began. */
      period: string;
      since: Date;
      limit: number;
    }) {
      if (!core.payoutProvider) return 0;
      const due = await store.payouts.dueAutomatic(input);
      let requested = 0;
      for (const { expertUserId, earnings } of due) {
        await useCases
          .requestWithdrawal("service:billing", {
            expertUserId,
            amount: { amountMinor: earnings, currency: input.currency },
            requestId: `auto:${input.period}:${expertUserId}:${input.currency}`,
            automatic: true,
          })
          .then(
            () => {
              requested += 1;
            },
            () => undefined,
          );
      }
      return requested;
    },

    /**
     * Payouts still processing `reconcileAfterMs` after they last changed (the rail's webhook never
     * came, or its answer to the send was lost), asked of the rail: what it has settled is settled
     * here as its webhook would have; one it never received is sent again (the same idempotency
     * key), unless the expert is frozen; one it does not know by the id it gave is counted
     * (`unknown`) and left to staff. A payout not settled is not claimed again for
     * `retryAfterMs`; one the rail could not be asked about counts as a failure and waits as long.
     */
    async reconcilePayoutsDue(limit: number, parallel: number, retryAfterMs: number) {
      const rail = core.payoutProvider;
      if (!rail) return { claimed: 0, settled: 0, sent: 0, unknown: 0, failures: 0 };
      const claimed = await store.payouts.claimDue(core.dueClaim(limit, retryAfterMs));
      const tally = { claimed: claimed.length, settled: 0, sent: 0, unknown: 0, failures: 0 };
      const reconcile = async (payout: Payout) => {
        const found = await rail.findPayout({
          providerPayoutId: payout.providerPayoutId,
          reference: payoutReference(payout),
        });
        if (!found) {
          // Unknown by the id the rail itself gave: for staff to look into, never sent twice.
          if (payout.providerPayoutId) tally.unknown += 1;
          if (payout.providerPayoutId || (await store.freezes.isFrozen(payout.expertUserId))) return;
          if ((await send(payout)).status !== "processing") tally.settled += 1;
          tally.sent += 1;
          return;
        }
        if (found.providerPayoutId !== payout.providerPayoutId)
          await store.payouts.sent(payout, found.providerPayoutId, now());
        if (found.status === "processing") return;
        await settlePayout({
          payoutId: payout.payoutId,
          attempt: payout.attempt,
          ...found,
          status: found.status,
        });
        tally.settled += 1;
      };
      tally.failures = await core.inParallel(claimed, parallel, reconcile);
      return tally;
    },
  };
  return useCases;
}
