import { newId } from "@parley/kit/ids";
import { SessionKind } from "@parley/proto/parley/billing/v1/billing";
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
