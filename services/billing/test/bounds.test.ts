import { newId } from "@parley/kit/ids";
import { PaymentStatus } from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { INT64_MAX } from "../src/domain/money";
import { failure, inr, startHarness } from "./harness";

// Bounds on amounts: a top-up of at most 10,000 and a wallet of at most 50,000 (minor units)
// here; a second harness leaves both at int64's limit, where overflow is the only bound.
const MAX_TOP_UP = 10_000n;
const MAX_BALANCE = 50_000n;
const h = await startHarness(t, { maxTopUp: MAX_TOP_UP, maxWalletBalance: MAX_BALANCE });
const unbounded = await startHarness(t);

const topUp = (user: { call: { bearerToken: string } }, amountMinor: bigint, currency = "INR") =>
  h.client.createTopUp({ amount: { amountMinor, currency }, provider: "", requestId: newId() }, user.call);
const success = (paymentId: string, amountMinor: bigint, providerEventId = newId()) => ({
  provider: "development",
  providerEventId,
  providerPaymentId: "pay_1",
  paymentId,
  providerReference: "",
  status: PaymentStatus.PAYMENT_STATUS_SUCCEEDED,
  amount: inr(amountMinor),
});
const balance = async (harness: typeof h, user: { call: { bearerToken: string } }) =>
  (await harness.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!.balance!
    .amountMinor;

h.test("currencies are ISO 4217 codes this platform takes", async (t) => {
  const user = await h.user();
  const made = await failure(topUp(user, 100n, "XXQ"));
  t.equal(made.reason, "VALIDATION_FAILED", "XXQ is no currency");
  t.same(made.fieldViolations, [{ field: "amount.currency", description: "ISO 4217 code" }]);
  const foreign = await failure(topUp(user, 100n, "EUR"));
  t.equal(foreign.kind, "invalid_argument");
  t.equal(foreign.reason, "CURRENCY_NOT_SUPPORTED", "EUR is real, but not taken here");
  t.equal(foreign.metadata.supported, "INR,USD");
  const wallet = await failure(h.client.getWallet({ userId: "", currency: "XXQ", rateMinor: 0n }, user.call));
  t.equal(wallet.reason, "VALIDATION_FAILED");
  const payer = await h.user();
  const { outcomes } = await h.client
    .chargeBatch(
      {
        items: [
          {
            sessionId: newId(),
            minute: 1n,
            payerUserId: payer.userId,
            payeeUserId: user.userId,
            amount: { amountMinor: 100n, currency: "EUR" },
            holdId: "",
          },
        ],
      },
      h.as.session,
    )
    .catch((error: { reason: string; fieldViolations: { field: string }[] }) => {
      t.equal(error.reason, "CURRENCY_NOT_SUPPORTED");
      t.same(
        error.fieldViolations.map((v) => v.field),
        ["items[0].amount.currency"],
      );
      return { outcomes: [] };
    });
  t.same(outcomes, [], "the batch was refused whole, naming the item");
  const [wallets] =
    await h.sql`select count(*)::int as n from billing.accounts where currency in ('XXQ', 'EUR')`;
  t.equal(wallets!.n, 0, "no wallet in a currency that is refused");
});

h.test(
  "a top-up of 2^63 − 1 is refused as too large, and so is one past the configured maximum",
  async (t) => {
    const user = await h.user();
    const huge = await failure(topUp(user, INT64_MAX));
    t.equal(huge.kind, "invalid_argument");
    t.equal(huge.reason, "TOP_UP_LIMIT_EXCEEDED");
    t.same(huge.metadata, { max_top_up_minor: String(MAX_TOP_UP), currency: "INR" });
    t.equal((await failure(topUp(user, MAX_TOP_UP + 1n))).reason, "TOP_UP_LIMIT_EXCEEDED");
    const { payment } = await topUp(user, MAX_TOP_UP);
    t.equal(payment?.status, PaymentStatus.PAYMENT_STATUS_PENDING, "the maximum itself is fine");
  },
);

h.test("credits stop at the wallet maximum: top-ups, grants and refunds alike", async (t) => {
  const user = await h.user();
  await h.fund(user.userId, MAX_BALANCE - 5_000n);
  const tooMuch = await failure(topUp(user, 5_001n));
  t.equal(tooMuch.kind, "failed_precondition");
  t.equal(tooMuch.reason, "WALLET_BALANCE_LIMIT_EXCEEDED");
  t.same(tooMuch.metadata, {
    max_balance_minor: String(MAX_BALANCE),
    balance_minor: String(MAX_BALANCE - 5_000n),
    currency: "INR",
  });
  const grant = await failure(
    h.client.grantCredit(
      { userId: user.userId, amount: inr(5_001n), note: "", requestId: newId() },
      h.as.admin,
    ),
  );
  t.equal(grant.reason, "WALLET_BALANCE_LIMIT_EXCEEDED");
  await h.fund(user.userId, 5_000n);
  t.equal(await balance(h, user), MAX_BALANCE, "up to the maximum exactly");
});

h.test(
  "a payment the wallet can no longer take is answered, marked failed with its reason, and credits nothing",
  async (t) => {
    const user = await h.user();
    const { payment } = await topUp(user, MAX_TOP_UP);
    await h.fund(user.userId, MAX_BALANCE - MAX_TOP_UP + 1n);
    const event = success(payment!.paymentId, MAX_TOP_UP);
    const answered = await h.client.confirmPayment(event, h.as.edge);
    t.equal(answered.credited, false);
    t.equal(answered.payment?.status, PaymentStatus.PAYMENT_STATUS_FAILED);
    t.equal(answered.payment?.failureReason, "WALLET_BALANCE_LIMIT_EXCEEDED");
    t.same(
      await h.client.confirmPayment(event, h.as.edge),
      answered,
      "the provider's retry gets the same answer",
    );
    t.equal(await balance(h, user), MAX_BALANCE - MAX_TOP_UP + 1n, "nothing credited");
    const [row] =
      await h.sql`select status, failure_reason from billing.payments where id = ${payment!.paymentId}`;
    t.same(row, { status: "failed", failure_reason: "WALLET_BALANCE_LIMIT_EXCEEDED" });
    const findings = await h.sql`
      select kind, amount from billing.payment_findings where payment_id = ${payment!.paymentId}`;
    t.same(
      findings.map((f) => [f.kind, f.amount]),
      [["uncredited_capture", MAX_TOP_UP]],
      "the money the provider took is on staff's queue to give back, once",
    );
    // The wallet has room again when another word of the same capture comes: it is credited,
    // and nothing is left to give back.
    await h.client.charge(
      {
        sessionId: newId(),
        minute: 1n,
        payerUserId: user.userId,
        payeeUserId: (await h.user("expert")).userId,
        amount: inr(MAX_TOP_UP),
        holdId: "",
      },
      h.as.session,
    );
    // Another capture of the same order, also never credited, has a finding of its own.
    await h.sql`insert into billing.payment_findings (id, payment_id, kind, provider_payment_id, amount, currency, created_at)
      values (${newId()}, ${payment!.paymentId}, 'uncredited_capture', 'pay_2', ${MAX_TOP_UP.toString()}, 'INR', now())`;
    const later = await h.client.confirmPayment(success(payment!.paymentId, MAX_TOP_UP), h.as.edge);
    t.equal(later.credited, true);
    t.same(
      (
        await h.sql`select provider_payment_id from billing.payment_findings where payment_id = ${payment!.paymentId}`
      ).map((f) => f.provider_payment_id),
      ["pay_2"],
      "credited after all: that capture's finding is gone, the other capture's stays",
    );
  },
);

unbounded.test("at int64's limit: a credit that would overflow is refused, never a 500", async (t) => {
  const user = await unbounded.user();
  await unbounded.fund(user.userId, INT64_MAX);
  t.equal(await balance(unbounded, user), INT64_MAX, "2^63 − 1 fits exactly");
  const overflow = await failure(
    unbounded.client.grantCredit(
      { userId: user.userId, amount: inr(1n), note: "", requestId: newId() },
      unbounded.as.admin,
    ),
  );
  t.equal(overflow.kind, "failed_precondition");
  t.equal(overflow.reason, "WALLET_BALANCE_LIMIT_EXCEEDED");
  t.equal(overflow.metadata.max_balance_minor, String(INT64_MAX));
  const full = await failure(
    unbounded.client.createTopUp({ amount: inr(1n), provider: "", requestId: newId() }, user.call),
  );
  t.equal(full.reason, "WALLET_BALANCE_LIMIT_EXCEEDED", "a top-up onto a full wallet is refused up front");
  const other = await unbounded.user();
  const { payment: pending } = await unbounded.client.createTopUp(
    { amount: inr(INT64_MAX), provider: "", requestId: newId() },
    other.call,
  );
  await unbounded.fund(other.userId, 1n);
  const answered = await unbounded.client.confirmPayment(
    success(pending!.paymentId, INT64_MAX),
    unbounded.as.edge,
  );
  t.same(
    [answered.credited, answered.payment?.failureReason],
    [false, "WALLET_BALANCE_LIMIT_EXCEEDED"],
    "a webhook whose credit would overflow is answered; the payment fails with the reason",
  );
});

unbounded.test("earnings that would overflow are refused with their own reason, never a 500", async (t) => {
  const expert = await unbounded.user("expert");
  const charge = async () => {
    const payer = await unbounded.user();
    await unbounded.fund(payer.userId, INT64_MAX);
    return unbounded.client.charge(
      {
        sessionId: newId(),
        minute: 1n,
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(INT64_MAX),
        holdId: "",
      },
      unbounded.as.session,
    );
  };
  await charge();
  const overflow = await failure(charge());
  t.equal(overflow.kind, "failed_precondition");
  t.equal(overflow.reason, "AMOUNT_OUT_OF_RANGE");
  const { earnings } = await unbounded.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.equal(
    earnings?.balance?.amountMinor,
    INT64_MAX - (INT64_MAX * 2000n) / 10_000n,
    "one minute earned, once",
  );
});
