import { newId } from "@parley/kit/ids";
import { type ChargeItem, chargeResult, planCharges } from "../charges";
import { planCapture, planExpiry, planExtend, planHold, planRelease } from "../holds";
import { replayOf } from "../idempotency";
import { invoiceOf, planSettlement } from "../invoices";
import type {
  ChargeOutcome,
  ChargeResult,
  Hold,
  IdempotencyScope,
  Invoice,
  Money,
  Refund,
  RefundReason,
  SessionKind,
} from "../model";
import { hashCharge, hashRequest, splitCommission } from "../money";
import { planRefund } from "../refunds";
import type { Checks } from "../validation";
import type { Core } from "./core";

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

/** A session's money: its hold, its minutes, its settlement and its refunds. */
export function sessionMoney(core: Core) {
  const { store, now, checks, key, context } = core;
  const ttl = (at: Date, seconds: bigint) => {
    const chosen = seconds === 0n ? DEFAULT_HOLD_TTL_SECONDS : seconds;
    checks()
      .require(chosen > 0n && chosen <= MAX_HOLD_TTL_SECONDS, "ttl_seconds", "between 1 s and 7 days")
      .done();
    return new Date(at.getTime() + Number(chosen) * 1000);
  };

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
      commission: splitCommission(rate, core.commissionBps).commission,
      holdId: input.holdId,
      requestHash: hashCharge(input),
    };
  };

  /** Plans and applies minutes under one lock of their wallets and keys. */
  const chargeMinutes = (items: ChargeItem[]) => {
    const at = now();
    return store.charges.chargeBatch(items, at, (snapshot) => planCharges(items, snapshot, context(at)));
  };

  return {
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
              commission: splitCommission(amount, core.commissionBps).commission,
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
        .positiveMoneyIfGiven(input.amount, "amount")
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

    /** Marks holds past their expiry expired, some wallets at a time; returns how many. */
    expireHolds(): Promise<number> {
      const at = now();
      return store.holds.expireOverdue(at, (wallets) => planExpiry(wallets, context(at)));
    },
  };
}
