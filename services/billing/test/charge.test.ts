import { newId } from "@parley/kit/ids";
import { SessionKind } from "@parley/proto/parley/billing/v1/billing";
import postgres from "postgres";
import t, { type Test } from "tap";
import { createBilling } from "../src/domain/billing";
import { INT64_MAX } from "../src/domain/money";
import { createLedgerStore, LEDGER_DATABASE_SETTINGS } from "../src/persistence/store";
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

/** A billing over its own pool that records the first word of every statement it sends. */
function watchedBilling(t: Test) {
  const statements: string[] = [];
  const pool = postgres(h.serviceUrl, {
    max: 4,
    onnotice: () => {},
    types: { bigint: postgres.BigInt },
    connection: LEDGER_DATABASE_SETTINGS,
    debug: (_connection, query) => statements.push(query.trim().split(/\s+/)[0]!.toLowerCase()),
  });
  t.teardown(() => pool.end({ timeout: 5 }));
  const billing = createBilling({
    store: createLedgerStore(pool),
    now: () => h.clock.now,
    commissionBps: 2000n,
    defaultCurrency: "INR",
    defaultProvider: "development",
    supportedCurrencies: new Set(["INR"]),
    limits: { maxBalance: INT64_MAX },
    maxTopUp: INT64_MAX,
  });
  return { billing, statements };
}

h.test(
  "a plain minute is one statement on the wire; any other falls back to the planner under lock",
  async (t) => {
    const { billing, statements } = watchedBilling(t);
    const payer = await h.user();
    const expert = await h.user("expert");
    await h.fund(payer.userId, RATE * 3n);
    const sessionId = newId();
    const minute = (n: bigint) => ({
      sessionId,
      minute: n,
      payerUserId: payer.userId,
      payeeUserId: expert.userId,
      amount: inr(RATE),
      holdId: "",
    });
    await billing.charge("service:session", minute(1n));
    statements.length = 0;
    const second = await billing.charge("service:session", minute(2n));
    t.same(statements, ["with"], "one statement, no BEGIN: nothing waits idle in a transaction");
    t.same([second.balance, second.available, second.minutesLeft], [RATE, RATE, 1n]);
    statements.length = 0;
    t.same(await billing.charge("service:session", minute(2n)), second, "a replay comes from the receipt");
    t.ok(statements.includes("begin"), "…which the planner reads under lock");
    await billing.charge("service:session", minute(3n));
    const short = await billing
      .charge("service:session", minute(4n))
      .catch((error: { reason: string }) => error);
    t.match(short, { reason: "INSUFFICIENT_FUNDS", metadata: { shortfall_minor: String(RATE) } });
  },
);

h.test("Charge and a ChargeBatch of one agree minute by minute, whatever the wallet's holds", async (t) => {
  const expert = await h.user("expert");
  const [viaCharge, viaBatch] = [await h.user(), await h.user()];
  const twins = [viaCharge, viaBatch].map((payer) => ({ payer, sessionId: newId(), holdId: "" }));
  const placeHold = (userId: string, amount: bigint, ttlSeconds: bigint) =>
    h.client.placeHold(
      { userId, amount: inr(amount), requestId: newId(), reference: "session:twin", ttlSeconds },
      h.as.session,
    );
  for (const twin of twins) {
    await h.fund(twin.payer.userId, 5200n);
    twin.holdId = (await placeHold(twin.payer.userId, 1500n, 600n)).hold!.holdId;
  }
  type Seen =
    | { charged: [bigint | undefined, bigint | undefined, bigint] }
    | { refused: string; shortfall?: string };
  const viaChargeRpc = async (minute: bigint): Promise<Seen> => {
    const twin = twins[0]!;
    const request = {
      sessionId: twin.sessionId,
      minute,
      payerUserId: twin.payer.userId,
      payeeUserId: expert.userId,
      amount: inr(RATE),
      holdId: twin.holdId,
    };
    return h.client.charge(request, h.as.session).then(
      (r) => ({ charged: [r.balance?.amountMinor, r.available?.amountMinor, r.minutesLeft] }),
      (e: { reason: string; metadata: Record<string, string> }) => ({
        refused: e.reason,
        ...(e.metadata.shortfall_minor ? { shortfall: e.metadata.shortfall_minor } : {}),
      }),
    );
  };
  const viaBatchRpc = async (minute: bigint): Promise<Seen> => {
    const twin = twins[1]!;
    const { outcomes } = await h.client.chargeBatch(
      {
        items: [
          {
            sessionId: twin.sessionId,
            minute,
            payerUserId: twin.payer.userId,
            payeeUserId: expert.userId,
            amount: inr(RATE),
            holdId: twin.holdId,
          },
        ],
      },
      h.as.session,
    );
    const outcome = outcomes[0]!.outcome!;
    switch (outcome.$case) {
      case "charged":
      case "replayed":
        return {
          charged: [
            outcome.value.balance?.amountMinor,
            outcome.value.available?.amountMinor,
            outcome.value.minutesLeft,
          ],
        };
      case "insufficientFunds":
        return { refused: "INSUFFICIENT_FUNDS", shortfall: String(outcome.value.shortfall?.amountMinor) };
      case "settled":
        return { refused: "SESSION_SETTLED" };
      case "refused":
        return { refused: outcome.value.reason };
    }
  };
  const both = async (minute: bigint, note: string) => {
    const [a, b] = [await viaChargeRpc(minute), await viaBatchRpc(minute)];
    t.same(a, b, `minute ${minute}: ${note}`);
    return a;
  };
  await both(1n, "from the live hold");
  await both(2n, "the hold's rest, then available");
  await both(3n, "the hold is used up: from available");
  await both(2n, "a replay");
  for (const twin of twins) await placeHold(twin.payer.userId, 600n, 30n);
  await both(4n, "a second hold reserves 600");
  h.clock.advanceSeconds(31);
  await both(5n, "that hold is past its expiry: available again");
  let minute = 6n;
  while ("charged" in (await both(minute, "until the money runs out"))) minute++;
  for (const twin of twins)
    await h.client.settleSession(
      {
        sessionId: twin.sessionId,
        payerUserId: twin.payer.userId,
        payeeUserId: expert.userId,
        holdId: twin.holdId,
        rate: inr(RATE),
        kind: SessionKind.SESSION_KIND_CHAT,
      },
      h.as.session,
    );
  await h.fund(viaCharge.userId, RATE);
  await h.fund(viaBatch.userId, RATE);
  t.same(await both(minute + 1n, "after settlement"), { refused: "SESSION_SETTLED" });
});

h.test("concurrent plain minutes share statements", async (t) => {
  const { billing, statements } = watchedBilling(t);
  const expert = await h.user("expert");
  const payers = await Promise.all(Array.from({ length: 10 }, () => h.user()));
  for (const payer of payers) await h.fund(payer.userId, RATE * 3n);
  const sessions = payers.map(() => newId());
  const minute = (p: number, n: bigint) => ({
    sessionId: sessions[p]!,
    minute: n,
    payerUserId: payers[p]!.userId,
    payeeUserId: expert.userId,
    amount: inr(RATE),
    holdId: "",
  });
  await billing.charge("service:session", minute(0, 1n));
  statements.length = 0;
  const calls = payers.map((_, p) =>
    Promise.all(
      [1n, 2n, 3n].filter((n) => p > 0 || n > 1n).map((n) => billing.charge("service:session", minute(p, n))),
    ),
  );
  const results = await Promise.all(calls);
  const count = results.flat().length;
  // Besides the charges' statements, only postgres.js's type lookup on the second lane's new connection.
  const charging = statements.filter((s) => s !== "select");
  t.ok(charging.length < count, `${count} calls in flight together, ${charging.length} statements`);
  t.ok(
    charging.every((s) => s === "with"),
    "each one statement: no transaction, nothing waiting in one",
  );
  for (const [p, payer] of payers.entries()) {
    t.same(
      results[p]!.map((r) => r.balance),
      p === 0 ? [RATE, 0n] : [2n * RATE, RATE, 0n],
      "each wallet's minutes chain one after another",
    );
    const { wallet } = await h.client.getWallet(
      { userId: payer.userId, currency: "", rateMinor: 0n },
      h.as.operator,
    );
    t.same(wallet?.balance, inr(0n));
  }
});

h.test("a wallet short of funds among concurrent minutes costs the others nothing", async (t) => {
  const expert = await h.user("expert");
  const payers = await Promise.all(Array.from({ length: 10 }, () => h.user()));
  for (const payer of payers) await h.fund(payer.userId, RATE * 3n);
  const sessions = payers.map(() => newId());
  const results = await Promise.all(
    payers.flatMap((payer, p) =>
      [1n, 2n, 3n, 4n].map((n) =>
        h.client
          .charge(
            {
              sessionId: sessions[p]!,
              minute: n,
              payerUserId: payer.userId,
              payeeUserId: expert.userId,
              amount: inr(RATE),
              holdId: "",
            },
            h.as.session,
          )
          .then(
            () => "charged",
            (error: { reason: string }) => error.reason,
          ),
      ),
    ),
  );
  t.equal(results.filter((r) => r === "charged").length, 30, "three minutes per wallet");
  t.same(
    new Set(results.filter((r) => r !== "charged")),
    new Set(["INSUFFICIENT_FUNDS"]),
    "the fourth is refused",
  );
});
