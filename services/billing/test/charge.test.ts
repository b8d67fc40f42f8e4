import { newId } from "@parley/kit/ids";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);
const RATE = 1000n; // 10.00 INR a minute

h.test("100 concurrent charges on a wallet funded for 37 minutes: exactly 37 succeed", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, RATE * 37n);
  const sessionId = newId();
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, (_, i) =>
      h.client.charge(
        {
          sessionId,
          minute: BigInt(i + 1),
          payerUserId: payer.userId,
          payeeUserId: expert.userId,
          amount: inr(RATE),
          holdId: "",
        },
        h.as.session,
      ),
    ),
  );
  const succeeded = results.filter((r) => r.status === "fulfilled");
  const refusals = results.flatMap((r) => (r.status === "rejected" ? [r.reason as { reason?: string }] : []));
  t.equal(succeeded.length, 37);
  t.ok(
    refusals.every((e) => e.reason === "INSUFFICIENT_FUNDS"),
    "every other charge is refused for funds",
  );
  const { wallet } = await h.client.getWallet({ userId: "", currency: "", rateMinor: RATE }, payer.call);
  t.same(wallet?.balance, inr(0n));
  t.equal(wallet?.minutesLeft, 0n);
  const { earnings } = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.same(earnings?.balance, inr(37n * 800n), "expert earns the rate minus 20 % commission");
});

h.test(
  "a charge returns the new available balance and minutes left; a retry returns the original result",
  async (t) => {
    const payer = await h.user();
    const expert = await h.user("expert");
    await h.fund(payer.userId, 5500n);
    const request = {
      sessionId: newId(),
      minute: 1n,
      payerUserId: payer.userId,
      payeeUserId: expert.userId,
      amount: inr(RATE),
      holdId: "",
    };
    const first = await h.client.charge(request, h.as.session);
    t.same(first.available, inr(4500n));
    t.same(first.balance, inr(4500n));
    t.equal(first.minutesLeft, 4n);
    await h.client.charge({ ...request, minute: 2n }, h.as.session);
    const retry = await h.client.charge(request, h.as.session);
    t.same(retry, first, "same (session, minute): the original result, not a second charge");
    const { wallet } = await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, payer.call);
    t.same(wallet?.balance, inr(3500n), "two minutes charged, not three");
    const reused = await failure(h.client.charge({ ...request, amount: inr(2000n) }, h.as.session));
    t.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
    t.equal(reused.kind, "already_exists");
  },
);

h.test("a charge draws from the session's hold first, then from what is available", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 2500n);
  const { hold } = await h.client.placeHold(
    {
      userId: payer.userId,
      amount: inr(1500n),
      requestId: newId(),
      reference: "session:x",
      ttlSeconds: 600n,
    },
    h.as.session,
  );
  const base = {
    sessionId: newId(),
    payerUserId: payer.userId,
    payeeUserId: expert.userId,
    amount: inr(RATE),
    holdId: hold!.holdId,
  };
  const first = await h.client.charge({ ...base, minute: 1n }, h.as.session);
  t.same(first.available, inr(1000n), "the minute came out of the hold: available unchanged");
  t.equal(first.minutesLeft, 1n, "500 left on the hold + 1000 available = 1 whole minute");
  const second = await h.client.charge({ ...base, minute: 2n }, h.as.session);
  t.same(second.available, inr(500n), "500 from the hold's rest, 500 from available");
  t.same(second.balance, inr(500n));
  const refused = await failure(h.client.charge({ ...base, minute: 3n }, h.as.session));
  t.equal(refused.reason, "INSUFFICIENT_FUNDS");
  t.equal(refused.metadata.shortfall_minor, "500");
  t.equal(refused.metadata.currency, "INR");
});

h.test("amounts stay exact beyond 2^53", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  const huge = 2n ** 60n + 7n;
  await h.fund(payer.userId, huge);
  const rate = 2n ** 55n + 3n;
  const result = await h.client.charge(
    {
      sessionId: newId(),
      minute: 1n,
      payerUserId: payer.userId,
      payeeUserId: expert.userId,
      amount: inr(rate),
      holdId: "",
    },
    h.as.session,
  );
  t.same(result.balance, inr(huge - rate));
  t.equal(result.minutesLeft, (huge - rate) / rate);
  const { earnings } = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.same(earnings?.balance, inr(rate - (rate * 2000n) / 10000n));
});

h.test("charges are refused for bad input and a payer paying themselves", async (t) => {
  const payer = await h.user();
  const invalid = await failure(
    h.client.charge(
      {
        sessionId: newId(),
        minute: 0n,
        payerUserId: payer.userId,
        payeeUserId: payer.userId,
        amount: inr(-5n),
        holdId: "",
      },
      h.as.session,
    ),
  );
  t.equal(invalid.reason, "VALIDATION_FAILED");
  t.same(invalid.fieldViolations.map((v) => v.field).sort(), [
    "amount.amount_minor",
    "minute",
    "payee_user_id",
  ]);
});

h.test("20 concurrent retries of one minute post it once and all get the same answer", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 10_000n);
  const request = {
    sessionId: newId(),
    minute: 1n,
    payerUserId: payer.userId,
    payeeUserId: expert.userId,
    amount: inr(RATE),
    holdId: "",
  };
  const results = await Promise.all(Array.from({ length: 20 }, () => h.client.charge(request, h.as.session)));
  t.equal(new Set(results.map((r) => r.transactionId)).size, 1, "one transaction");
  t.ok(results.every((r) => r.balance?.amountMinor === 9000n));
  const [row] =
    await h.sql`select count(*)::int as n from billing.charges where session_id = ${request.sessionId}`;
  t.equal(row!.n, 1);
});

h.test("a minute refused for funds can be charged once the wallet is topped up", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  const request = {
    sessionId: newId(),
    minute: 1n,
    payerUserId: payer.userId,
    payeeUserId: expert.userId,
    amount: inr(RATE),
    holdId: "",
  };
  t.equal((await failure(h.client.charge(request, h.as.session))).reason, "INSUFFICIENT_FUNDS");
  await h.fund(payer.userId, RATE);
  const charged = await h.client.charge(request, h.as.session);
  t.same(charged.balance, inr(0n), "the refusal left no idempotency key behind");
});
