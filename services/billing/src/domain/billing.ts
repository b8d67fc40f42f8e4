import { failedPrecondition, invalidArgument, isAppError, notFound } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type ChargeItem, chargeResult, planCharges } from "./charges";
import { planCapture, planExpiry, planExtend, planHold, planRelease } from "./holds";
import { replayOf } from "./idempotency";
import { invoiceOf, planSettlement } from "./invoices";
import { heldOf, type WalletLimits, walletFrozen } from "./ledger";
import type {
  AccountEntry,
  ChargeOutcome,
  ChargeResult,
  Earnings,
  Hold,
  IdempotencyScope,
  Invoice,
  Money,
  Payment,
  PaymentRefund,
  PaymentStatus,
  Refund,
  RefundReason,
  SessionKind,
  UserAccountKind,
  WalletView,
} from "./model";
import { hashCharge, hashRequest, minutesPayable, splitCommission } from "./money";
import {
  decidePaymentEvent,
  planGrant,
  planPaymentCredit,
  planPaymentRefund,
  planReconciliation,
  planRefundOutcome,
  planTopUp,
} from "./payments";
import {
  type KycStatus,
  type Payout,
  type PayoutAccount,
  type PayoutMethod,
  type PayoutStatus,
  payoutDetailsOf,
  planPayoutOutcome,
  planRetry,
  planWithdrawal,
} from "./payouts";
import type { Checkout, LedgerStore, PaymentProvider, PayoutProvider, ProviderPayment } from "./ports";
import { planRefund } from "./refunds";
import { Checks } from "./validation";

export interface BillingDeps {
  store: LedgerStore;
  /** Injectable clock: tests move time instead of sleeping. */
  now: () => Date;
  commissionBps: bigint;
  defaultCurrency: string;
  defaultProvider: string;
  /** ISO 4217 codes this deployment takes (SUPPORTED_CURRENCIES). */
  supportedCurrencies: ReadonlySet<string>;
  limits: WalletLimits;
  /** The most one top-up may add (minor units). */
  maxTopUp: bigint;
  /** The payout rail (RazorpayX, or the development rail); payouts are refused without one. */
  payoutProvider?: PayoutProvider;
  /** Tax withheld on each payout, in basis points (TDS); none by default. */
  tdsBps?: bigint;
  /** The smallest withdrawal, in minor units. */
  minPayout?: bigint;
  /** Reconciliation: a payment still pending this long is read back from its provider. */
  reconcileAfterMs?: number;
  /** Reconciliation: a payment the provider still has unpaid this long expires. */
  paymentExpiryMs?: number;
  /** The payment providers by name (the development provider, and Stripe and Razorpay when configured); none when absent. */
  providers?: ReadonlyMap<string, PaymentProvider>;
}

/** What CreateTopUp answers: the pending payment and what the app's checkout needs. */
export interface TopUp {
  payment: Payment;
  checkout: Checkout & { provider: string };
}

const DEFAULT_HOLD_TTL_SECONDS = 3600n;
const MAX_HOLD_TTL_SECONDS = 7n * 24n * 3600n;

const MAX_CHARGE_BATCH = 1000;

/** One minute of a session, as Charge and each ChargeBatch item take it. */
export interface ChargeInput {
  sessionId: string;
  minute: bigint;
  payerUserId: string;
  payeeUserId: string;
  amount: Money | undefined;
  holdId: string;
}

function checkCharge(c: Checks, input: ChargeInput, prefix = ""): Checks {
  return c
    .require(input.sessionId.length > 0, `${prefix}session_id`, "required")
    .require(input.minute >= 1n, `${prefix}minute`, "from 1")
    .require(input.payerUserId.length > 0, `${prefix}payer_user_id`, "required")
    .require(input.payeeUserId.length > 0, `${prefix}payee_user_id`, "required")
    .require(input.payerUserId !== input.payeeUserId, `${prefix}payee_user_id`, "must differ from the payer")
    .positiveMoney(input.amount, `${prefix}amount`);
}

/** The billing use cases: validation, defaults, keys and commission; decisions in the planners, over the store. */
export function createBilling(deps: BillingDeps) {
  const { store, now } = deps;
  const providers: ReadonlyMap<string, PaymentProvider> = deps.providers ?? new Map();
  const checks = () => new Checks(deps.supportedCurrencies);
  const currencyOr = (currency: string) => {
    const chosen = currency || deps.defaultCurrency;
    checks().currency(chosen, "currency").done();
    return chosen;
  };
  const key = (
    scope: IdempotencyScope,
    operation: string,
    requestId: string,
    parameters: Record<string, unknown>,
  ) => ({
    scope,
    key: `${operation}:${requestId}`,
    requestHash: hashRequest(parameters),
  });
  const ttl = (at: Date, seconds: bigint) => {
    const chosen = seconds === 0n ? DEFAULT_HOLD_TTL_SECONDS : seconds;
    checks()
      .require(chosen > 0n && chosen <= MAX_HOLD_TTL_SECONDS, "ttl_seconds", "between 1 s and 7 days")
      .done();
    return new Date(at.getTime() + Number(chosen) * 1000);
  };
  const context = (at: Date) => ({ now: at, limits: deps.limits });

  /** Charge's key is (session, minute) for any caller: the minute's receipt is the key. */
  const chargeItem = (input: ChargeInput): ChargeItem => {
    const rate = input.amount!.amountMinor;
    return {
      sessionId: input.sessionId,
      minute: input.minute,
      payerUserId: input.payerUserId,
      payeeUserId: input.payeeUserId,
      currency: input.amount!.currency,
      amount: rate,
      commission: splitCommission(rate, deps.commissionBps).commission,
      holdId: input.holdId,
      requestHash: hashCharge(input),
    };
  };

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

  const reconcileAfterMs = deps.reconcileAfterMs ?? 15 * 60_000;
  const paymentExpiryMs = deps.paymentExpiryMs ?? 24 * 3_600_000;

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

  const withdrawalContext = (at: Date) => ({
    now: at,
    tdsBps: deps.tdsBps ?? 0n,
    minPayout: deps.minPayout ?? 1n,
  });

  /**
   * Sends a processing payout that has no provider id yet to the payout rail (idempotent by the
   * payout id and attempt) and applies what the rail answers at once (the development rail pays at
   * once). A rail that does not answer leaves it processing, for RetryPayout.
   */
  const send = async (payout: Payout): Promise<Payout> => {
    const rail = deps.payoutProvider;
    if (!rail || payout.status !== "processing" || payout.providerPayoutId) return payout;
    const account = await store.payouts.getAccount(payout.expertUserId);
    const details = await store.payouts.details(payout.expertUserId);
    if (!account || !details) return payout;
    const answer = await rail.createPayout({
      idempotencyKey: payout.attempt === 1 ? payout.payoutId : `${payout.payoutId}:${payout.attempt}`,
      payoutId: payout.payoutId,
      expertUserId: payout.expertUserId,
      amount: payout.net,
      currency: payout.currency,
      method: account.method,
      holderName: account.holderName,
      details,
    });
    const sent = await store.payouts.sent(payout.payoutId, answer.providerPayoutId, now());
    if (answer.status === "processing") return sent;
    return settlePayout({
      payoutId: sent.payoutId,
      providerPayoutId: answer.providerPayoutId,
      status: answer.status,
      failureReason: answer.failureReason,
    });
  };

  const settlePayout = async (outcome: {
    payoutId: string;
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

  const settleRefund = (refundId: string, providerRefundId: string, status: "processed" | "failed") => {
    const at = now();
    return store.payments.settleRefund({ refundId, providerRefundId, now: at }, (wallet, refund) =>
      planRefundOutcome(wallet, refund, status, context(at)),
    );
  };

  /** Plans and applies minutes under one lock of their wallets and keys. */
  const chargeMinutes = (items: ChargeItem[]) => {
    const at = now();
    return store.charges.chargeBatch(items, at, (snapshot) => planCharges(items, snapshot, context(at)));
  };

  return {
    /** Freezes or unfreezes a person's wallets (auth's back office authorises and audits). */
    async setWalletFrozen(userId: string, frozen: boolean): Promise<{ wasFrozen: boolean }> {
      checks()
        .require(userId.length > 0 && userId.length <= 64, "user_id", "required")
        .done();
      return store.freezes.setFrozen(userId, frozen, [...deps.supportedCurrencies], now());
    },

    /** Open holds, unsettled top-ups (and top-up refunds), withdrawals in flight of a person. */
    pendingMoney(userId: string) {
      checks()
        .require(userId.length > 0 && userId.length <= 64, "user_id", "required")
        .done();
      return store.freezes.pending(userId);
    },

    async getWallet(userId: string, currency: string, rate: bigint): Promise<WalletView> {
      const chosen = currencyOr(currency);
      checks()
        .require(rate >= 0n, "rate_minor", "must not be negative")
        .done();
      const wallet = await store.wallets.read(userId, chosen);
      const held = heldOf(wallet.holds, now());
      const available = wallet.balance - held;
      return {
        userId,
        currency: chosen,
        balance: wallet.balance,
        held,
        available,
        minutesLeft: minutesPayable(available, rate),
        frozen: wallet.frozen ?? false,
      };
    },

    listTransactions(input: {
      userId: string;
      kind: UserAccountKind;
      currency: string;
      beforeEntryId: bigint | undefined;
      limit: number;
    }): Promise<AccountEntry[]> {
      return store.wallets.entries({ ...input, currency: currencyOr(input.currency) });
    },

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
      const chosen = providerNamed(provider || deps.defaultProvider);
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
        (wallet) => planTopUp(wallet, amount!.amountMinor, { ...context(at), maxTopUp: deps.maxTopUp }),
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
      const rail = deps.payoutProvider;
      if (rail && rail.name !== "development" && rail.name === input.provider) {
        const event = rail.parseWebhook(input.payload, input.headers);
        if (event.kind === "ignored") return { eventId: event.eventId, duplicate: false, credited: false };
        const at = now();
        if (event.kind === "kyc") {
          const account = await store.payouts.setKyc({ ...event, now: at });
          if (!account)
            throw notFound("PAYOUT_ACCOUNT_NOT_FOUND", `no payout account for ${event.expertUserId}`);
          return { eventId: event.eventId, duplicate: false, credited: false };
        }
        const { payout, changed } = await store.payouts.settle(
          { payoutId: event.payoutId, providerPayoutId: event.providerPayoutId, now: at },
          (current) => planPayoutOutcome(current, event, at),
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
          if (event.status === "pending")
            return { eventId: event.eventId, duplicate: false, credited: false };
          const { changed } = await settleRefund(event.refundId, event.providerRefundId, event.status);
          return { eventId: event.eventId, duplicate: !changed, credited: false };
        }
        case "ignored":
          return { eventId: event.eventId, duplicate: false, credited: false };
      }
    },

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
      if (!deps.payoutProvider)
        throw failedPrecondition("PAYOUTS_NOT_CONFIGURED", "payouts are not configured here");
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
     */
    async runAutomaticPayouts(input: { currency: string; threshold: bigint; period: string; limit: number }) {
      const due = await store.payouts.dueAutomatic(input);
      let requested = 0;
      for (const { expertUserId, earnings } of due) {
        await this.requestWithdrawal("service:billing", {
          expertUserId,
          amount: { amountMinor: earnings, currency: input.currency },
          requestId: `auto:${input.period}:${expertUserId}:${input.currency}`,
          automatic: true,
        }).then(
          () => {
            requested += 1;
          },
          () => undefined,
        );
      }
      return requested;
    },

    /**
     * A top-up refunded through its provider: the amount leaves the wallet in one transaction
     * (idempotent by request id), then the provider is asked (idempotent by the refund id); its
     * answer, or later its webhook, settles the refund. A provider that does not answer leaves it
     * pending; the same request id sends it again.
     */
    async refundPayment(
      scope: IdempotencyScope,
      input: { paymentId: string; amount: Money | undefined; requestId: string },
    ): Promise<PaymentRefund> {
      checks()
        .require(input.paymentId.length > 0, "payment_id", "required")
        .require(
          input.amount === undefined || input.amount.amountMinor > 0n,
          "amount.amount_minor",
          "must be positive",
        )
        .requestId(input.requestId)
        .done();
      const at = now();
      const refund = await store.payments.refund(
        key(scope, "payment_refund", input.requestId, { paymentId: input.paymentId, amount: input.amount }),
        { paymentId: input.paymentId, now: at },
        (wallet, payment, refunded) =>
          planPaymentRefund(wallet, { payment, refunded, amount: input.amount?.amountMinor }, context(at)),
      );
      if (refund.status !== "pending" || refund.providerRefundId) return refund;
      const payment = (await store.payments.get(refund.paymentId))!;
      const provider = providers.get(payment.provider);
      if (!provider) return refund;
      const answer = await provider.refund({
        refundId: refund.refundId,
        providerPaymentId: payment.providerPaymentId || payment.providerReference,
        amount: refund.amount,
      });
      const sent = await store.payments.refundSent(refund.refundId, answer.providerRefundId, now());
      if (answer.status === "pending") return sent;
      return (await settleRefund(refund.refundId, "", answer.status)).refund;
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
      const at = now();
      const claimed = await store.payments.claimDue({
        createdBefore: new Date(at.getTime() - reconcileAfterMs),
        now: at,
        nextCheckAt: new Date(at.getTime() + retryAfterMs),
        limit,
      });
      let settled = 0;
      let failures = 0;
      const queue = [...claimed];
      await Promise.all(
        Array.from({ length: Math.min(parallel, queue.length) }, async () => {
          for (let payment = queue.shift(); payment; payment = queue.shift()) {
            try {
              const result = await reconcile(payment);
              if (result.payment.status !== "pending") settled += 1;
            } catch {
              failures += 1;
            }
          }
        }),
      );
      return { claimed: claimed.length, settled, failures };
    },

    placeHold(
      scope: IdempotencyScope,
      input: {
        userId: string;
        amount: Money | undefined;
        requestId: string;
        reference: string;
        ttlSeconds: bigint;
      },
    ): Promise<Hold> {
      checks()
        .require(input.userId.length > 0, "user_id", "required")
        .positiveMoney(input.amount, "amount")
        .requestId(input.requestId)
        .done();
      const at = now();
      const expiresAt = ttl(at, input.ttlSeconds);
      return store.holds.place(
        key(scope, "hold", input.requestId, { ...input, requestId: undefined }),
        { userId: input.userId, currency: input.amount!.currency, now: at },
        (wallet) =>
          planHold(
            wallet,
            { amount: input.amount!.amountMinor, reference: input.reference, expiresAt },
            context(at),
          ),
      );
    },

    extendHold(
      scope: IdempotencyScope,
      input: { holdId: string; ttlSeconds: bigint; requestId: string },
    ): Promise<Hold> {
      checks()
        .require(input.holdId.length > 0, "hold_id", "required")
        .requestId(input.requestId)
        .done();
      const at = now();
      const expiresAt = ttl(at, input.ttlSeconds);
      return store.holds.change(
        key(scope, "extend", input.requestId, { holdId: input.holdId, ttl: input.ttlSeconds }),
        { holdId: input.holdId, now: at },
        (wallet) => planExtend(wallet, { holdId: input.holdId, expiresAt }, context(at)),
      );
    },

    captureHold(
      scope: IdempotencyScope,
      input: { holdId: string; amount: Money | undefined; payeeUserId: string; requestId: string },
    ): Promise<{ hold: Hold; transactionId: string }> {
      checks()
        .require(input.holdId.length > 0, "hold_id", "required")
        .require(input.payeeUserId.length > 0, "payee_user_id", "required")
        .positiveMoney(input.amount, "amount")
        .requestId(input.requestId)
        .done();
      const amount = input.amount!.amountMinor;
      const at = now();
      return store.holds.change(
        key(scope, "capture", input.requestId, { ...input, requestId: undefined }),
        { holdId: input.holdId, now: at },
        (wallet) =>
          planCapture(
            wallet,
            {
              holdId: input.holdId,
              amount,
              commission: splitCommission(amount, deps.commissionBps).commission,
              payeeUserId: input.payeeUserId,
            },
            context(at),
          ),
      );
    },

    releaseHold(scope: IdempotencyScope, input: { holdId: string; requestId: string }): Promise<Hold> {
      checks()
        .require(input.holdId.length > 0, "hold_id", "required")
        .requestId(input.requestId)
        .done();
      const at = now();
      return store.holds.change(
        key(scope, "release", input.requestId, { holdId: input.holdId }),
        { holdId: input.holdId, now: at },
        (wallet) => planRelease(wallet, input.holdId, context(at)),
      );
    },

    /**
     * One minute. The plain case (paid from what is available, no live hold, nothing to replay)
     * takes one statement; anything else, or a plain minute the database refuses, is decided by
     * planCharges under lock, exactly as a batch of one.
     */
    async charge(_scope: IdempotencyScope, input: ChargeInput): Promise<ChargeResult> {
      checkCharge(checks(), input).done();
      const item = chargeItem(input);
      const receipt = await store.charges.chargePlain(item, newId(), now());
      if (receipt) return chargeResult(receipt);
      const plan = await chargeMinutes([item]);
      const outcome = plan.outcomes[0]!;
      if (outcome.kind === "charged" || outcome.kind === "replayed") return outcome.result;
      throw plan.refusals.get(0)!;
    },

    /**
     * Many minutes, each with its own outcome: the plain ones (see chargePlainBatch) in one
     * statement, the rest in one set-based transaction decided by planCharges after them. A
     * refusal Charge would answer with becomes that item's outcome; anything else (an outage)
     * fails the call, and a retry replays the items already charged.
     */
    async chargeBatch(_scope: IdempotencyScope, items: ChargeInput[]): Promise<ChargeOutcome[]> {
      const batch = checks()
        .require(
          items.length > 0 && items.length <= MAX_CHARGE_BATCH,
          "items",
          `1 to ${MAX_CHARGE_BATCH} items`,
        )
        .require(
          new Set(items.map((item) => `${item.sessionId}:${item.minute}`)).size === items.length,
          "items",
          "each (session_id, minute) at most once",
        );
      for (const [index, item] of items.entries()) checkCharge(batch, item, `items[${index}].`);
      batch.done();
      const minutes = items.map(chargeItem);
      // The plain minutes first, in one statement; planCharges decides the rest under lock, after them.
      const receipts = await store.charges.chargePlainBatch(
        minutes.map((item) => ({ item, transactionId: newId() })),
        now(),
      );
      const rest = minutes.flatMap((item, index) => (receipts[index] ? [] : [{ item, index }]));
      const planned = rest.length > 0 ? (await chargeMinutes(rest.map(({ item }) => item))).outcomes : [];
      const byIndex = new Map(rest.map(({ index }, position) => [index, planned[position]!]));
      return receipts.map(
        (receipt, index): ChargeOutcome =>
          receipt ? { kind: "charged", result: chargeResult(receipt) } : byIndex.get(index)!,
      );
    },

    async settleSession(input: {
      sessionId: string;
      payerUserId: string;
      payeeUserId: string;
      holdId: string;
      rate: Money | undefined;
      kind: SessionKind | undefined;
    }): Promise<Invoice> {
      checks()
        .require(input.sessionId.length > 0, "session_id", "required")
        .require(input.payerUserId.length > 0, "payer_user_id", "required")
        .require(input.payeeUserId.length > 0, "payee_user_id", "required")
        .require(input.kind !== undefined, "kind", "required")
        .positiveMoney(input.rate, "rate")
        .done();
      const at = now();
      const settleHash = hashRequest(input);
      const { record, refunds, created } = await store.invoices.settle(
        {
          sessionId: input.sessionId,
          payerUserId: input.payerUserId,
          payeeUserId: input.payeeUserId,
          kind: input.kind!,
          currency: input.rate!.currency,
          rate: input.rate!.amountMinor,
          holdId: input.holdId,
          settleHash,
          now: at,
        },
        (wallet) => planSettlement(wallet, input.holdId, context(at)),
      );
      if (!created) replayOf({ requestHash: record.settleHash, response: record }, settleHash);
      return invoiceOf(record, refunds);
    },

    refund(
      scope: IdempotencyScope,
      input: {
        sessionId: string;
        amount: Money | undefined;
        reason: RefundReason | undefined;
        note: string;
        requestId: string;
      },
    ): Promise<Refund> {
      checks()
        .require(input.sessionId.length > 0, "session_id", "required")
        .require(input.reason !== undefined, "reason", "required")
        .require(
          input.amount === undefined || input.amount.amountMinor > 0n,
          "amount.amount_minor",
          "must be positive",
        )
        .requestId(input.requestId)
        .done();
      const at = now();
      return store.refunds.refund(
        key(scope, "refund", input.requestId, { ...input, requestId: undefined }),
        { sessionId: input.sessionId, now: at },
        (snapshot) =>
          planRefund(
            snapshot,
            {
              amount: input.amount && { minor: input.amount.amountMinor, currency: input.amount.currency },
              reason: input.reason!,
              note: input.note,
            },
            context(at),
          ),
      );
    },

    grantCredit(
      scope: IdempotencyScope,
      input: {
        userId: string;
        amount: Money | undefined;
        note: string;
        requestId: string;
        /** The staff member granting: nobody credits their own wallet. */
        actorUserId?: string;
      },
    ): Promise<{ transactionId: string; wallet: WalletView }> {
      if (input.actorUserId && input.actorUserId.toLowerCase() === input.userId.toLowerCase())
        throw failedPrecondition(
          "SELF_CREDIT_REFUSED",
          "staff may not grant credit to their own wallet; ask another admin",
        );
      checks()
        .require(input.userId.length > 0, "user_id", "required")
        .positiveMoney(input.amount, "amount")
        .requestId(input.requestId)
        .done();
      const at = now();
      return store.wallets.credit(
        key(scope, "grant", input.requestId, { ...input, requestId: undefined, actorUserId: undefined }),
        { userId: input.userId, currency: input.amount!.currency, now: at },
        (wallet) => planGrant(wallet, input.amount!.amountMinor, context(at)),
      );
    },

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

    /** Marks holds past their expiry expired, some wallets at a time; returns how many. */
    expireHolds(): Promise<number> {
      const at = now();
      return store.holds.expireOverdue(at, (wallets) => planExpiry(wallets, context(at)));
    },
  };
}

export type Billing = ReturnType<typeof createBilling>;
