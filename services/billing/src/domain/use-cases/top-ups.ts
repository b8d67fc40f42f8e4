import { failedPrecondition, invalidArgument, notFound } from "@parley/kit/errors";
import { isUuid, newId } from "@parley/kit/ids";
import {
  type IdempotencyScope,
  type Money,
  PAYMENT_FINDING_KINDS,
  type Payment,
  type PaymentFindingKind,
  type PaymentRefund,
  type PaymentStatus,
} from "../model";
import {
  decidePaymentEvent,
  planPaymentCredit,
  planPaymentRefund,
  planReconciliation,
  planRefundOutcome,
  planTopUp,
} from "../payments";
import { type Payout, parsePayoutReference, planPayoutOutcome } from "../payouts";
import type { Checkout, PaymentProvider, ProviderPayment } from "../ports";
import type { Core } from "./core";

/** What CreateTopUp answers: the pending payment and what the app's checkout needs. */
export interface TopUp {
  payment: Payment;
  checkout: Checkout & { provider: string };
}

/**
 * Top-ups through the payment providers: creating and confirming them, the providers' webhooks
 * (the payout rail's too), reconciliation with the providers, and refunds of top-ups.
 */
export function topUps(core: Core) {
  const { store, now, checks, key, context } = core;
  const providers: ReadonlyMap<string, PaymentProvider> = core.providers ?? new Map();

  const providerNamed = (name: string): PaymentProvider => {
    const provider = providers.get(name);
    if (!provider)
      throw invalidArgument("PROVIDER_NOT_SUPPORTED", `payments through ${name} are not configured here`, {
        metadata: { supported: [...providers.keys()].join(",") },
        fieldViolations: [{ field: "provider", description: [...providers.keys()].join(", ") }],
      });
    return provider;
  };

  /** One provider report about a payment, applied once per event id (see decidePaymentEvent). */
  const applyPayment = (
    provider: string,
    providerEventId: string,
    reported: Omit<ProviderPayment, "status"> & { paymentId: string; status: PaymentStatus },
  ) => {
    const at = now();
    return store.payments.confirm(
      {
        provider,
        providerEventId,
        providerPaymentId: reported.providerPaymentId,
        paymentId: reported.paymentId,
        providerReference: reported.providerReference,
        status: reported.status,
        now: at,
      },
      (payment, firstTime) =>
        decidePaymentEvent(payment, {
          status: reported.status,
          amount: reported.amount,
          currency: reported.currency,
          providerPaymentId: reported.providerPaymentId,
          firstTime,
        }),
      (wallet, payment) => planPaymentCredit(wallet, payment, context(at)),
    );
  };

  const paymentExpiryMs = core.paymentExpiryMs ?? 24 * 3_600_000;

  /**
   * Reads a payment's provider payments and applies what planReconciliation makes of them,
   * each step like a webhook (once per event id, under the payment's lock), recording a
   * finding for each change. A payment never created with its provider (still `parley_<id>`)
   * has nothing to read: nobody could have paid it.
   */
  const reconcile = async (payment: Payment): Promise<{ payment: Payment; credited: boolean }> => {
    const provider = providers.get(payment.provider);
    const created =
      provider !== undefined &&
      (provider.name === "development" || payment.providerReference !== `parley_${payment.paymentId}`);
    const reported = created ? await provider.paymentsOf(payment.providerReference) : [];
    const steps = planReconciliation(payment, reported, new Date(now().getTime() - paymentExpiryMs));
    let current = payment;
    let credited = false;
    for (const step of steps) {
      const before = current.status;
      const result = await applyPayment(payment.provider, step.eventId, {
        ...step,
        paymentId: payment.paymentId,
        providerReference: payment.providerReference,
      });
      current = result.payment;
      credited ||= result.credited;
      if (result.credited || (before === "pending" && current.status !== "pending"))
        await store.payments.recordFinding({
          provider: payment.provider,
          providerPaymentId: step.providerPaymentId,
          providerReference: payment.providerReference,
          kind: step.finding,
          amount: step.amount,
          currency: step.currency,
          now: now(),
        });
    }
    return { payment: current, credited };
  };

  const settleRefund = (refundId: string, providerRefundId: string, status: "processed" | "failed") => {
    const at = now();
    return store.payments.settleRefund({ refundId, providerRefundId, now: at }, (wallet, refund) =>
      planRefundOutcome(wallet, refund, status, context(at)),
    );
  };

  /** The provider payment a refund goes back to (a Stripe PaymentIntent is both). */
  const refundedPayment = (payment: Payment) => payment.providerPaymentId || payment.providerReference;

  /**
   * Asks the provider for the refund (idempotent by its id), then records or settles its answer.
   * A refusal (PROVIDER_REFUSED) of a refund the provider does not have (an earlier send whose
   * answer was lost may have made it, past the provider's idempotency window) made nothing: it
   * fails, back to the wallet.
   */
  const sendRefund = async (refund: PaymentRefund, payment: Payment, provider: PaymentProvider) => {
    const providerPaymentId = refundedPayment(payment);
    const outcome = await core.sendOrFind(
      () => provider.refund({ refundId: refund.refundId, providerPaymentId, amount: refund.amount }),
      () => provider.findRefund({ refundId: refund.refundId, providerRefundId: "", providerPaymentId }),
    );
    if ("refused" in outcome) return (await settleRefund(refund.refundId, "", "failed")).refund;
    const { answer } = outcome;
    const sent = await store.payments.refundSent(refund.refundId, answer.providerRefundId, now());
    if (answer.status === "pending") return sent;
    return (await settleRefund(refund.refundId, "", answer.status)).refund;
  };

  return {
    /**
     * The payment is recorded first (idempotent by request id, as `parley_<id>`), then created
     * with the provider (idempotent by our payment id) and the provider's reference attached:
     * no transaction waits on the provider, and a retry after a crash in between completes it.
     */
    async createTopUp(
      scope: IdempotencyScope,
      userId: string,
      amount: Money | undefined,
      provider: string,
      requestId: string,
    ): Promise<TopUp> {
      checks().positiveMoney(amount, "amount").requestId(requestId).done();
      const chosen = providerNamed(provider || core.defaultProvider);
      const at = now();
      const paymentId = newId();
      const created = await store.payments.create(
        key(scope, "topup", requestId, { userId, amount, provider: chosen.name }),
        {
          paymentId,
          userId,
          currency: amount!.currency,
          amount: amount!.amountMinor,
          status: "pending",
          provider: chosen.name,
          providerReference: `parley_${paymentId}`,
          providerPaymentId: "",
          failureReason: "",
          clientSecret: "",
          createdAt: at,
          updatedAt: at,
        },
        (wallet) => planTopUp(wallet, amount!.amountMinor, { ...context(at), maxTopUp: core.maxTopUp }),
      );
      let payment = (await store.payments.get(created.paymentId)) ?? created;
      if (payment.providerReference === `parley_${payment.paymentId}` && chosen.name !== "development")
        payment = await store.payments.attach(
          payment.paymentId,
          await chosen.createPayment({
            paymentId: payment.paymentId,
            amount: payment.amount,
            currency: payment.currency,
          }),
        );
      return {
        payment,
        checkout: {
          provider: payment.provider,
          providerReference: payment.providerReference,
          clientSecret: payment.clientSecret,
        },
      };
    },

    /** ConfirmPayment: the development provider's events, signed by the edge's own webhook format. */
    confirmPayment(input: {
      provider: string;
      providerEventId: string;
      providerPaymentId: string;
      paymentId: string;
      providerReference: string;
      status: PaymentStatus | undefined;
      amount: Money | undefined;
    }): Promise<{ payment: Payment; credited: boolean }> {
      checks()
        .require(input.provider.length > 0, "provider", "required")
        .require(input.providerEventId.length > 0, "provider_event_id", "required")
        .require(
          input.paymentId.length > 0 || input.providerReference.length > 0,
          "payment_id",
          "payment_id or provider_reference required",
        )
        .require(input.status !== undefined, "status", "required")
        .require(
          input.status !== "succeeded" || input.amount !== undefined,
          "amount",
          "required for a success",
        )
        .done();
      if (input.provider !== "development" && providers.has(input.provider))
        throw failedPrecondition(
          "PROVIDER_WEBHOOK_REQUIRED",
          `${input.provider} events are accepted only in ${input.provider}'s own signed format`,
        );
      return applyPayment(input.provider, input.providerEventId, {
        paymentId: input.paymentId,
        providerReference: input.providerReference,
        providerPaymentId: input.providerPaymentId,
        status: input.status!,
        amount: input.amount?.amountMinor ?? 0n,
        currency: input.amount?.currency ?? "",
      });
    },

    /**
     * The payer's app completes a top-up with the provider's client-side proof: checked, then
     * the provider payment is read back from the provider and applied like its webhook (the
     * event id is the provider payment's, so the two credit once between them).
     */
    async verifyTopUp(
      userId: string,
      input: { paymentId: string; providerPaymentId: string; signature: string },
    ): Promise<{ payment: Payment; credited: boolean }> {
      checks()
        .require(input.paymentId.length > 0, "payment_id", "required")
        .require(input.providerPaymentId.length > 0, "provider_payment_id", "required")
        .require(input.signature.length > 0, "signature", "required")
        .done();
      const payment = await store.payments.get(input.paymentId);
      if (!payment || payment.userId !== userId)
        throw notFound("PAYMENT_NOT_FOUND", `no payment ${input.paymentId}`);
      const provider = providers.get(payment.provider);
      if (!provider?.verifyCheckout)
        throw failedPrecondition(
          "PROVIDER_NOT_SUPPORTED",
          `${payment.provider} payments are confirmed by the provider's webhook`,
        );
      if (
        !provider.verifyCheckout({
          providerReference: payment.providerReference,
          providerPaymentId: input.providerPaymentId,
          signature: input.signature,
        })
      )
        throw invalidArgument("SIGNATURE_INVALID", "the checkout signature does not match this payment");
      const reported = await provider.fetchPayment(input.providerPaymentId);
      if (reported.providerReference !== payment.providerReference)
        throw invalidArgument("SIGNATURE_INVALID", "the provider payment belongs to another order");
      return applyPayment(provider.name, `payment:${reported.providerPaymentId}:${reported.status}`, {
        ...reported,
        paymentId: payment.paymentId,
      });
    },

    /**
     * A provider's webhook: verified in its own format and mapped by the adapter, then applied
     * once per event id (payments once per provider payment, see decidePaymentEvent).
     */
    async receiveWebhook(input: {
      provider: string;
      payload: Buffer;
      headers: Readonly<Record<string, string>>;
    }): Promise<{
      eventId: string;
      duplicate: boolean;
      credited: boolean;
      payment?: Payment;
      payout?: Payout;
    }> {
      const rail = core.payoutProvider;
      if (rail && rail.name !== "development" && rail.name === input.provider) {
        const event = rail.parseWebhook(input.payload, input.headers);
        if (event.kind === "ignored") return { eventId: event.eventId, duplicate: false, credited: false };
        const at = now();
        if (event.kind === "kyc") {
          const account = await store.payouts.setKyc({ ...event, now: at });
          if (account) return { eventId: event.eventId, duplicate: false, credited: false };
          // A validation of details replaced since, or older than staff's decision (a redelivery):
          // acknowledged, not applied.
          if (await store.payouts.getAccount(event.expertUserId))
            return { eventId: event.eventId, duplicate: true, credited: false };
          throw notFound("PAYOUT_ACCOUNT_NOT_FOUND", `no payout account for ${event.expertUserId}`);
        }
        const { payoutId, attempt } = parsePayoutReference(event.reference);
        // A payout made outside Parley (on RazorpayX's dashboard): not ours to settle.
        if (payoutId && !isUuid(payoutId))
          return { eventId: event.eventId, duplicate: false, credited: false };
        const { payout, changed } = await store.payouts.settle(
          { payoutId, providerPayoutId: event.providerPayoutId, now: at },
          (current) => planPayoutOutcome(current, payoutId ? { ...event, attempt } : event, at),
        );
        return { eventId: event.eventId, duplicate: !changed, credited: false, payout };
      }
      const provider = providers.get(input.provider);
      if (!provider || provider.name === "development")
        throw notFound(
          "PROVIDER_NOT_SUPPORTED",
          `no webhooks from ${input.provider || "an unnamed provider"}`,
        );
      const event = provider.parseWebhook(input.payload, input.headers);
      switch (event.kind) {
        case "payment": {
          const result = await applyPayment(provider.name, event.eventId, {
            ...event.payment,
            paymentId: "",
          });
          return { eventId: event.eventId, ...result };
        }
        case "dispute": {
          const { payment, recorded } = await store.payments.recordFinding({
            provider: provider.name,
            providerPaymentId: event.providerPaymentId,
            providerReference: "",
            kind: "dispute",
            amount: event.amount,
            currency: event.currency,
            now: now(),
          });
          return { eventId: event.eventId, duplicate: !recorded, credited: false, payment };
        }
        case "refund": {
          if (event.status === "pending" || (!event.refundId && event.status === "failed"))
            return { eventId: event.eventId, duplicate: false, credited: false };
          if (!event.refundId) {
            // Made at the provider (its dashboard), not through Parley: the payer has the money
            // back while the wallet keeps what the payment credited. Recorded for staff, like a
            // dispute.
            const { payment, recorded } = await store.payments.recordFinding({
              provider: provider.name,
              providerPaymentId: event.providerPaymentId,
              providerReference: "",
              providerRefundId: event.providerRefundId,
              kind: "provider_refund",
              amount: event.amount,
              currency: event.currency,
              now: now(),
            });
            return { eventId: event.eventId, duplicate: !recorded, credited: false, payment };
          }
          const { changed } = await settleRefund(event.refundId, event.providerRefundId, event.status);
          return { eventId: event.eventId, duplicate: !changed, credited: false };
        }
        case "ignored":
          return { eventId: event.eventId, duplicate: false, credited: false };
      }
    },

    /**
     * A top-up refunded through its provider: the amount leaves the wallet in one transaction
     * (idempotent by request id), then the provider is asked (idempotent by the refund id); its
     * answer, or later its webhook, settles the refund. A provider that does not answer leaves it
     * pending: the same request id sends it again, and reconciliation asks about it
     * (reconcileRefundsDue).
     */
    async refundPayment(
      scope: IdempotencyScope,
      input: { paymentId: string; amount: Money | undefined; requestId: string },
    ): Promise<PaymentRefund> {
      checks()
        .require(input.paymentId.length > 0, "payment_id", "required")
        .positiveMoneyIfGiven(input.amount, "amount")
        .requestId(input.requestId)
        .done();
      const at = now();
      const refund = await store.payments.refund(
        key(scope, "payment_refund", input.requestId, { paymentId: input.paymentId, amount: input.amount }),
        { paymentId: input.paymentId, now: at },
        (wallet, payment, refunded) =>
          planPaymentRefund(wallet, { payment, refunded, amount: input.amount }, context(at)),
      );
      // A retried request gets the answer recorded with its key, pending and unsent: the refund
      // as it is now decides whether it still needs sending.
      const current = (await store.payments.getRefund(refund.refundId)) ?? refund;
      if (current.status !== "pending" || current.providerRefundId) return current;
      const payment = (await store.payments.get(current.paymentId))!;
      const provider = providers.get(payment.provider);
      return provider ? sendRefund(current, payment, provider) : current;
    },

    /** What was found about payments, newest first: every kind, or the one named. */
    listPaymentFindings(input: { kind: string; beforeFindingId: string | undefined; limit: number }) {
      const kinds: readonly string[] = PAYMENT_FINDING_KINDS;
      checks()
        .require(!input.kind || kinds.includes(input.kind), "kind", `one of ${kinds.join(", ")}`)
        .done();
      return store.payments.listFindings({
        kind: (input.kind || undefined) as PaymentFindingKind | undefined,
        beforeFindingId: input.beforeFindingId,
        limit: input.limit,
      });
    },

    /** ReconcilePayment: one payment, now, whatever its status (a late duplicate capture is found too). */
    async reconcilePayment(paymentId: string) {
      const payment = await store.payments.get(paymentId);
      if (!payment) throw notFound("PAYMENT_NOT_FOUND", `no payment ${paymentId}`);
      const result = await reconcile(payment);
      return { ...result, findings: await store.payments.findings(paymentId) };
    },

    /**
     * The worker's round: claims up to `limit` payments pending for longer than the delay and
     * reconciles them, `parallel` at a time; a provider that fails one is retried at its next
     * check. Returns how many were claimed and how many settled (credited, failed or expired).
     */
    async reconcileDue(limit: number, parallel: number, retryAfterMs: number) {
      const claimed = await store.payments.claimDue(core.dueClaim(limit, retryAfterMs));
      let settled = 0;
      const failures = await core.inParallel(claimed, parallel, async (payment) => {
        if ((await reconcile(payment)).payment.status !== "pending") settled += 1;
      });
      return { claimed: claimed.length, settled, failures };
    },

    /**
     * The worker's round for top-up refunds still pending after the delay (a webhook lost, or the
     * answer to the send): each is asked about by the provider's id, or by ours when the answer
     * was lost (its id is then recorded). One the provider settled is settled here as its
     * webhook would have; one it never received is sent again (the same idempotency key); one it
     * does not know by the id it gave, or whose provider is no longer configured, is counted
     * (`unknown`) and asked about again at each round; the first is recorded once as a
     * `refund_unknown` finding for staff. A refund not settled is not claimed again for `retryAfterMs`.
     */
    async reconcileRefundsDue(limit: number, parallel: number, retryAfterMs: number) {
      const claimed = await store.payments.claimDueRefunds(core.dueClaim(limit, retryAfterMs));
      const tally = { claimed: claimed.length, settled: 0, sent: 0, unknown: 0, failures: 0 };
      tally.failures = await core.inParallel(claimed, parallel, async ({ refund, payment }) => {
        const provider = providers.get(payment.provider);
        const found = await provider?.findRefund({
          refundId: refund.refundId,
          providerRefundId: refund.providerRefundId,
          providerPaymentId: refundedPayment(payment),
        });
        if (!found) {
          if (!provider || refund.providerRefundId) {
            tally.unknown += 1;
            if (refund.providerRefundId)
              await store.payments.recordFinding({
                provider: payment.provider,
                providerPaymentId: refundedPayment(payment),
                providerReference: payment.providerReference,
                providerRefundId: refund.providerRefundId,
                kind: "refund_unknown",
                amount: refund.amount,
                currency: refund.currency,
                now: now(),
              });
            return;
          }
          tally.sent += 1;
          if ((await sendRefund(refund, payment, provider)).status !== "pending") tally.settled += 1;
          return;
        }
        if (found.providerRefundId !== refund.providerRefundId)
          await store.payments.refundSent(refund.refundId, found.providerRefundId, now());
        if (found.status === "pending") return;
        await settleRefund(refund.refundId, found.providerRefundId, found.status);
        tally.settled += 1;
      });
      return tally;
    },
  };
}
