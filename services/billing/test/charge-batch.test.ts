import { newId } from "@parley/kit/ids";
import { type ChargeOutcome, SessionKind } from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);
const RATE = 1000n;

const minute = (sessionId: string, n: number, payerUserId: string, payeeUserId: string, holdId = "") => ({
  sessionId,
  minute: BigInt(n),
  payerUserId,
  payeeUserId,
  amount: inr(RATE),
  holdId,
});

h.test("every item of a batch gets its own outcome; one refusal never aborts the others", async (t) => {
  const rich = await h.user();
  const poor = await h.user();
  const settledPayer = await h.user();
  const expert = await h.user("expert");
  await h.fund(rich.userId, RATE * 10n);
  await h.fund(poor.userId, 300n);
  await h.fund(settledPayer.userId, RATE * 10n);
  const richSession = newId();
  const settledSession = newId();
  const earlier = await h.client.charge(minute(richSession, 1, rich.userId, expert.userId), h.as.session);
  await h.client.settleSession(
    {
      sessionId: settledSession,
      payerUserId: settledPayer.userId,
      payeeUserId: expert.userId,
      holdId: "",
      rate: inr(RATE),
      kind: SessionKind.SESSION_KIND_CHAT,
    },
    h.as.session,
  );

  const { outcomes } = await h.client.chargeBatch(
    {
      items: [
        minute(richSession, 1, rich.userId, expert.userId),
        minute(richSession, 2, rich.userId, expert.userId),
        minute(newId(), 1, poor.userId, expert.userId),
        minute(settledSession, 1, settledPayer.userId, expert.userId),
        minute(newId(), 1, rich.userId, expert.userId, newId()),
      ],
    },
    h.as.session,
  );
  t.same(
    outcomes[0]?.outcome,
    { $case: "replayed", value: earlier },
    "minute 1 was charged before: replayed",
  );
  t.equal(outcomes[1]?.outcome?.$case, "charged");
  if (outcomes[1]?.outcome?.$case === "charged") {
    t.same(outcomes[1].outcome.value.balance, inr(RATE * 8n));
    t.equal(outcomes[1].outcome.value.minutesLeft, 8n);
  }
  t.same(outcomes[2]?.outcome, { $case: "insufficientFunds", value: { shortfall: inr(RATE - 300n) } });
  t.same(outcomes[3]?.outcome, { $case: "settled", value: {} });
  t.equal(outcomes[4]?.outcome?.$case, "refused");
  if (outcomes[4]?.outcome?.$case === "refused") t.equal(outcomes[4].outcome.value.reason, "HOLD_NOT_FOUND");

  const { wallet } = await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, rich.call);
  t.same(wallet?.balance, inr(RATE * 8n), "two minutes charged in all, whatever the other items did");
  const retried = await h.client.chargeBatch(
    { items: [minute(richSession, 2, rich.userId, expert.userId)] },
    h.as.session,
  );
  t.equal(retried.outcomes[0]?.outcome?.$case, "replayed", "a retried batch replays what it charged");
});

h.test("a batch is refused whole when it is empty, too large or names a minute twice", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  const sessionId = newId();
  const empty = await failure(h.client.chargeBatch({ items: [] }, h.as.session));
  t.equal(empty.reason, "VALIDATION_FAILED");
  const twice = await failure(
    h.client.chargeBatch(
      {
        items: [
          minute(sessionId, 1, payer.userId, expert.userId),
          minute(sessionId, 1, payer.userId, expert.userId),
        ],
      },
      h.as.session,
    ),
  );
  t.equal(twice.reason, "VALIDATION_FAILED");
  const tooMany = await failure(
    h.client.chargeBatch(
      {
        items: Array.from({ length: 1001 }, (_, i) => minute(sessionId, i + 1, payer.userId, expert.userId)),
      },
      h.as.session,
    ),
  );
  t.equal(tooMany.reason, "VALIDATION_FAILED");
  const malformed = await failure(
    h.client.chargeBatch(
      { items: [minute(sessionId, 1, payer.userId, expert.userId), minute(sessionId, 0, payer.userId, "")] },
      h.as.session,
    ),
  );
  t.same(
    malformed.fieldViolations.map((v) => v.field),
    ["items[1].minute", "items[1].payee_user_id"],
    "the violations name the item",
  );
});

h.test("only the session service may charge a batch", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  const denied = await failure(
    h.client.chargeBatch({ items: [minute(newId(), 1, payer.userId, expert.userId)] }, payer.call),
  );
  t.equal(denied.kind, "permission_denied");
});

const charged = (outcome: ChargeOutcome | undefined) => {
  if (outcome?.outcome?.$case !== "charged") throw new Error(`not charged: ${JSON.stringify(outcome)}`);
  return outcome.outcome.value;
};

h.test(
  "minutes on one wallet apply one after another: hold remainder first, balances chain, the rest refused with its shortfall",
  async (t) => {
    const payer = await h.user();
    const other = await h.user();
    const expert = await h.user("expert");
    await h.fund(payer.userId, 3500n);
    await h.fund(other.userId, RATE * 5n);
    const { hold } = await h.client.placeHold(
      {
        userId: payer.userId,
        amount: inr(1500n),
        requestId: newId(),
        reference: "session:a",
        ttlSeconds: 600n,
      },
      h.as.session,
    );
    const [a, b] = [newId(), newId()].sort();
    const { outcomes } = await h.client.chargeBatch(
      {
        items: [
          // Out of order on purpose: the batch applies them by session, then minute.
          minute(b!, 1, payer.userId, expert.userId),
          minute(a!, 2, payer.userId, expert.userId, hold!.holdId),
          minute(newId(), 1, other.userId, expert.userId),
          minute(a!, 1, payer.userId, expert.userId, hold!.holdId),
          minute(b!, 2, payer.userId, expert.userId),
        ],
      },
      h.as.session,
    );
    // a:1 takes 1000 of the hold's 1500; a:2 takes the hold's last 500 and 500 of the 2000 available;
    // b:1 takes 1000 more; b:2 finds 500 available: short by 500.
    const a1 = charged(outcomes[3]);
    t.same([a1.balance, a1.available, a1.minutesLeft], [inr(2500n), inr(2000n), 2n]);
    const a2 = charged(outcomes[1]);
    t.same([a2.balance, a2.available, a2.minutesLeft], [inr(1500n), inr(1500n), 1n]);
    const b1 = charged(outcomes[0]);
    t.same([b1.balance, b1.available, b1.minutesLeft], [inr(500n), inr(500n), 0n]);
    t.same(outcomes[4]?.outcome, { $case: "insufficientFunds", value: { shortfall: inr(500n) } });
    t.equal(charged(outcomes[2]).balance?.amountMinor, RATE * 4n, "another payer's minute is unaffected");

    const { transactions } = await h.client.listTransactions(
      { userId: "", account: 0, currency: "", pageSize: 10, pageToken: "" },
      payer.call,
    );
    t.same(
      transactions.slice(0, 3).map((tx) => [tx.balanceBefore?.amountMinor, tx.balanceAfter?.amountMinor]),
      [
        [1500n, 500n],
        [2500n, 1500n],
        [3500n, 2500n],
      ],
      "the wallet's history chains minute after minute",
    );
    const [row] = await h.sql`select status, captured from billing.holds where id = ${hold!.holdId}`;
    t.same([row!.status, row!.captured], ["captured", 1500n], "the hold was used up by the batch");
    const { earnings } = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
    t.same(earnings?.balance, inr(4n * 800n), "the expert earned each charged minute once");
  },
);

h.test(
  "a batch's plain minutes and its others on one wallet come out as if charged one by one, in order",
  async (t) => {
    // Twin wallets: one charged by a single batch, the other by Charge, one item at a time in the
    // batch's order (wallet, session, minute). The batch pays a wallet's leading plain minutes in
    // one statement and leaves the rest to the planner; the outcomes must be the same.
    const expert = await h.user("expert");
    const twins = await Promise.all([h.user(), h.user()]);
    const holds: string[] = [];
    for (const twin of twins) {
      await h.fund(twin.userId, 3200n);
      const { hold } = await h.client.placeHold(
        {
          userId: twin.userId,
          amount: inr(1500n),
          requestId: newId(),
          reference: "session:3",
          ttlSeconds: 600n,
        },
        h.as.session,
      );
      holds.push(hold!.holdId);
    }
    // Available 1700: 1:1 pays 1000 (700 left); 1:2 is 300 short; 2:1 (500) fits; 3:1 comes from
    // the hold; 4:1 (200) takes the last available.
    const plan = [
      { session: "1", minute: 1, amount: 1000n, hold: false },
      { session: "1", minute: 2, amount: 1000n, hold: false },
      { session: "2", minute: 1, amount: 500n, hold: false },
      { session: "3", minute: 1, amount: 1000n, hold: true },
      { session: "4", minute: 1, amount: 200n, hold: false },
    ];
    const tag = newId();
    const items = (twin: number) =>
      plan.map((step) => ({
        sessionId: `${tag}:${twin}:${step.session}`,
        minute: BigInt(step.minute),
        payerUserId: twins[twin]!.userId,
        payeeUserId: expert.userId,
        amount: inr(step.amount),
        holdId: step.hold ? holds[twin]! : "",
      }));
    const view = (outcome: ChargeOutcome | undefined) =>
      outcome?.outcome?.$case === "charged"
        ? {
            balance: outcome.outcome.value.balance?.amountMinor,
            available: outcome.outcome.value.available?.amountMinor,
            minutesLeft: outcome.outcome.value.minutesLeft,
          }
        : outcome?.outcome;
    // Out of order on purpose: the batch applies them by session, then minute.
    const { outcomes } = await h.client.chargeBatch({ items: [...items(0)].reverse() }, h.as.session);
    const batched = [...outcomes].reverse().map(view);
    const single: unknown[] = [];
    for (const item of items(1)) {
      try {
        const result = await h.client.charge(item, h.as.session);
        single.push({
          balance: result.balance?.amountMinor,
          available: result.available?.amountMinor,
          minutesLeft: result.minutesLeft,
        });
      } catch (error) {
        const reason = (error as { reason?: string }).reason;
        single.push(
          reason === "INSUFFICIENT_FUNDS"
            ? { $case: "insufficientFunds", value: { shortfall: inr(300n) } }
            : reason,
        );
      }
    }
    t.same(batched, single, "the batch's outcomes are Charge's, one by one");
    t.same(batched[1], { $case: "insufficientFunds", value: { shortfall: inr(300n) } });
    t.same(batched[4], { balance: 500n, available: 0n, minutesLeft: 0n });
    const rows = await h.sql`
      select a.owner_id, a.balance, a.held, h.captured, h.status from billing.accounts a
      join billing.holds h on h.account_id = a.id
      where a.kind = 'wallet' and a.owner_id = any(${twins.map((twin) => twin.userId)})`;
    const byOwner = new Map(
      rows.map((row) => [row.owner_id, [row.balance, row.held, row.captured, row.status]]),
    );
    t.same(byOwner.get(twins[0]!.userId), byOwner.get(twins[1]!.userId), "the twin wallets and holds agree");
    t.same(byOwner.get(twins[0]!.userId), [500n, 500n, 1000n, "open"]);
  },
);

h.test("a Charge and a ChargeBatch item with the same (session, minute) are the same minute", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, RATE * 10n);
  const sessionId = newId();
  const byCharge = await h.client.charge(minute(sessionId, 1, payer.userId, expert.userId), h.as.session);
  const { outcomes } = await h.client.chargeBatch(
    {
      items: [
        minute(sessionId, 1, payer.userId, expert.userId),
        minute(sessionId, 2, payer.userId, expert.userId),
      ],
    },
    h.as.session,
  );
  t.same(outcomes[0]?.outcome, { $case: "replayed", value: byCharge });
  const byBatch = charged(outcomes[1]);
  t.same(
    await h.client.charge(minute(sessionId, 2, payer.userId, expert.userId), h.as.session),
    byBatch,
    "Charge replays the minute the batch charged",
  );
  const other = await h.user();
  const { outcomes: reused } = await h.client.chargeBatch(
    { items: [minute(sessionId, 2, other.userId, expert.userId)] },
    h.as.session,
  );
  t.equal(reused[0]?.outcome?.$case, "refused");
  if (reused[0]?.outcome?.$case === "refused")
    t.equal(reused[0].outcome.value.reason, "IDEMPOTENCY_KEY_REUSED");
  const [count] = await h.sql`select count(*)::int as n from billing.charges where session_id = ${sessionId}`;
  t.equal(count!.n, 2);
});

h.test("concurrent batches and charges over the same wallets charge each minute exactly once", async (t) => {
  const payers = await Promise.all(Array.from({ length: 20 }, () => h.user()));
  const experts = await Promise.all(Array.from({ length: 3 }, () => h.user("expert")));
  for (const payer of payers) await h.fund(payer.userId, RATE * 6n);
  const sessions = payers.map(() => newId());
  // Each payer's session has 8 minutes due but funds for 6; every batch names all of them,
  // in its own order, and single charges race for some of the same minutes.
  const items = payers.flatMap((payer, p) =>
    Array.from({ length: 8 }, (_, m) => minute(sessions[p]!, m + 1, payer.userId, experts[p % 3]!.userId)),
  );
  const rotated = (by: number) => [...items.slice(by), ...items.slice(0, by)];
  const orders = [items, [...items].reverse(), rotated(items.length / 2), rotated(37).reverse()];
  const results = await Promise.all([
    ...orders.map((order) => h.client.chargeBatch({ items: order }, h.as.session)),
    ...items
      .filter((_, i) => i % 5 === 0)
      .map((item) =>
        h.client.charge(item, h.as.session).then(
          (value) => ({ value }),
          (error: { reason?: string }) => ({ reason: error.reason }),
        ),
      ),
  ]);
  const batches = results.slice(0, 4) as { outcomes: ChargeOutcome[] }[];
  for (const { outcomes } of batches) t.equal(outcomes.length, items.length);
  const [counts] = await h.sql`
    select count(*)::int as charges, count(distinct (session_id, minute))::int as minutes
    from billing.charges where session_id = any(${sessions})`;
  t.same(counts, { charges: 120, minutes: 120 }, "6 minutes of each of 20 sessions, each once");
  for (const payer of payers) {
    const { wallet } = await h.client.getWallet(
      { userId: payer.userId, currency: "", rateMinor: 0n },
      h.as.operator,
    );
    t.same(wallet?.balance, inr(0n));
  }
  const earned = await Promise.all(
    experts.map(
      async (expert) =>
        (await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call)).earnings!,
    ),
  );
  t.equal(
    earned.reduce((sum, e) => sum + e.balance!.amountMinor, 0n),
    120n * 800n,
    "the experts earned exactly the charged minutes",
  );
});

h.test("a batch of 1,000 minutes across 1,000 wallets charges them all", async (t) => {
  const expert = await h.user("expert");
  const payers = Array.from({ length: 1000 }, () => newId());
  await Promise.all(payers.map((userId) => h.fund(userId, RATE * 2n)));
  const { outcomes } = await h.client.chargeBatch(
    { items: payers.map((payer) => minute(newId(), 1, payer, expert.userId)) },
    h.as.session,
  );
  t.equal(outcomes.filter((o) => o.outcome?.$case === "charged").length, 1000);
  const { earnings } = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.same(earnings?.balance, inr(1000n * 800n));
});

h.test(
  "a large batch over many payers and experts, some short of funds, charges exactly what each wallet pays",
  async (t) => {
    const experts = await Promise.all(Array.from({ length: 7 }, () => h.user("expert")));
    const payers = Array.from({ length: 300 }, () => newId());
    // The first 100 payers have two sessions due and money for one minute; the rest money for five.
    await Promise.all(payers.map((userId, p) => h.fund(userId, p < 100 ? RATE : RATE * 5n)));
    const items = payers.flatMap((payer, p) =>
      (p < 100 ? [newId(), newId()] : [newId()]).map((sessionId) =>
        minute(sessionId, 1, payer, experts[p % experts.length]!.userId),
      ),
    );
    const { outcomes } = await h.client.chargeBatch({ items }, h.as.session);
    const kinds = outcomes.map((o) => o.outcome?.$case);
    t.equal(kinds.filter((kind) => kind === "charged").length, 300, "one minute of every payer");
    t.equal(
      kinds.filter((kind) => kind === "insufficientFunds").length,
      100,
      "the second minute of the short ones",
    );
    for (const [index, item] of items.entries()) {
      const outcome = outcomes[index]?.outcome;
      if (outcome?.$case !== "charged") continue;
      const p = payers.indexOf(item.payerUserId);
      t.same(outcome.value.balance, inr(p < 100 ? 0n : RATE * 4n), "each charged minute's balance after");
    }
    const earned = await Promise.all(
      experts.map(
        async (expert) =>
          (await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call)).earnings!,
      ),
    );
    t.same(
      earned.map((e) => e.balance?.amountMinor),
      experts.map((_, e) => BigInt(payers.filter((_, p) => p % experts.length === e).length) * 800n),
      "each expert earned its payers' minutes once",
    );
  },
);

h.test("session ids with quotes, backslashes, commas and braces survive the bulk statements", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, RATE * 10n);
  const odd = ['a "quoted" id', "back\\slash", "comma,brace{}", "NULL", "  spaced  "];
  const items = odd.map((sessionId) => minute(sessionId, 1, payer.userId, expert.userId));
  const { outcomes } = await h.client.chargeBatch({ items }, h.as.session);
  t.same(
    outcomes.map((o) => o.outcome?.$case),
    odd.map(() => "charged"),
  );
  const rows = await h.sql<{ session_id: string }[]>`
    select session_id from billing.charges where payer_user_id = ${payer.userId}`;
  t.same(rows.map((row) => row.session_id).sort(), [...odd].sort(), "stored exactly as sent");
  const again = await h.client.chargeBatch({ items }, h.as.session);
  t.same(
    again.outcomes.map((o) => o.outcome?.$case),
    odd.map(() => "replayed"),
  );
});
