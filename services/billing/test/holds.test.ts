import { newId } from "@parley/kit/ids";
import { HoldStatus } from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);

const placeHold = (userId: string, amountMinor: bigint, ttlSeconds = 600n) =>
  h.client.placeHold(
    { userId, amount: inr(amountMinor), requestId: newId(), reference: `session:${newId()}`, ttlSeconds },
    h.as.session,
  );

const available = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!;

h.test("a hold larger than what is available is refused with the shortfall", async (t) => {
  const payer = await h.user();
  await h.fund(payer.userId, 3000n);
  await placeHold(payer.userId, 2000n);
  const refused = await failure(placeHold(payer.userId, 1500n));
  t.equal(refused.kind, "failed_precondition");
  t.equal(refused.reason, "INSUFFICIENT_FUNDS");
  t.same(refused.metadata, { shortfall_minor: "500", currency: "INR" });
  const wallet = await available(payer);
  t.same([wallet.balance, wallet.held, wallet.available], [inr(3000n), inr(2000n), inr(1000n)]);
});

h.test("repeated partial captures, then the hold is used up and resolved", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 5000n);
  const { hold } = await placeHold(payer.userId, 3000n);
  const capture = (amountMinor: bigint, requestId = newId()) =>
    h.client.captureHold(
      { holdId: hold!.holdId, amount: inr(amountMinor), payeeUserId: expert.userId, requestId },
      h.as.session,
    );
  const first = await capture(1000n);
  t.same(first.hold?.captured, inr(1000n));
  t.equal(first.hold?.status, HoldStatus.HOLD_STATUS_OPEN);
  const tooMuch = await failure(capture(2500n));
  t.equal(tooMuch.reason, "HOLD_AMOUNT_EXCEEDED");
  const last = await capture(2000n);
  t.equal(last.hold?.status, HoldStatus.HOLD_STATUS_CAPTURED);
  const wallet = await available(payer);
  t.same([wallet.balance, wallet.held, wallet.available], [inr(2000n), inr(0n), inr(2000n)]);
  t.equal((await failure(capture(1n))).reason, "HOLD_NOT_OPEN", "a resolved hold takes no more captures");
  const { earnings } = await h.client.getEarnings({ expertUserId: "", currency: "" }, expert.call);
  t.same(earnings?.balance, inr(2400n));
});

h.test("capture racing release, 200 times: exactly one wins each time", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 200n * 100n);
  let captures = 0;
  for (let round = 0; round < 200; round++) {
    const { hold } = await placeHold(payer.userId, 100n);
    const [captured, released] = await Promise.allSettled([
      h.client.captureHold(
        { holdId: hold!.holdId, amount: inr(100n), payeeUserId: expert.userId, requestId: newId() },
        h.as.session,
      ),
      h.client.releaseHold({ holdId: hold!.holdId, requestId: newId() }, h.as.session),
    ]);
    const winners = [captured, released].filter((r) => r.status === "fulfilled").length;
    const loser = [captured, released].find((r) => r.status === "rejected");
    if (winners !== 1 || (loser as PromiseRejectedResult).reason.reason !== "HOLD_NOT_OPEN") {
      t.fail(`round ${round}: ${winners} winners`);
      return;
    }
    if (captured!.status === "fulfilled") captures++;
  }
  t.pass("every round had exactly one winner");
  const wallet = await available(payer);
  t.same(wallet.balance, inr(20_000n - BigInt(captures) * 100n), "only the winning captures moved money");
  t.same(wallet.held, inr(0n));
});

h.test("an expired hold stops reserving money even if nothing releases it", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 1000n);
  const { hold } = await placeHold(payer.userId, 800n, 60n);
  t.same((await available(payer)).available, inr(200n));
  h.clock.advanceSeconds(61);
  t.same((await available(payer)).available, inr(1000n), "available again without any sweep");
  const capture = await failure(
    h.client.captureHold(
      { holdId: hold!.holdId, amount: inr(100n), payeeUserId: expert.userId, requestId: newId() },
      h.as.session,
    ),
  );
  t.equal(capture.reason, "HOLD_NOT_OPEN");
  t.equal(capture.metadata.status, "expired");
  const release = await failure(
    h.client.releaseHold({ holdId: hold!.holdId, requestId: newId() }, h.as.session),
  );
  t.equal(release.reason, "HOLD_NOT_OPEN");
});

h.test("the sweeper marks overdue holds expired; an extended hold survives", async (t) => {
  const payer = await h.user();
  await h.fund(payer.userId, 1000n);
  const { hold: short } = await placeHold(payer.userId, 300n, 30n);
  const { hold: extended } = await placeHold(payer.userId, 300n, 30n);
  h.clock.advanceSeconds(20);
  const { hold: after } = await h.client.extendHold(
    { holdId: extended!.holdId, ttlSeconds: 120n, requestId: newId() },
    h.as.session,
  );
  t.ok(after!.expiresAt! > extended!.expiresAt!, "expiry moved later");
  const { hold: notShorter } = await h.client.extendHold(
    { holdId: extended!.holdId, ttlSeconds: 1n, requestId: newId() },
    h.as.session,
  );
  t.same(notShorter!.expiresAt, after!.expiresAt, "an extension never shortens a hold");
  h.clock.advanceSeconds(20);
  t.ok((await h.billing.expireHolds()) >= 1, "the sweep expired the overdue hold");
  const [row] = await h.sql`select status from billing.holds where id = ${short!.holdId}`;
  t.equal(row!.status, "expired");
  const wallet = await available(payer);
  t.same([wallet.held, wallet.available], [inr(300n), inr(700n)], "only the extended hold still reserves");
  const extendExpired = await failure(
    h.client.extendHold({ holdId: short!.holdId, ttlSeconds: 60n, requestId: newId() }, h.as.session),
  );
  t.equal(extendExpired.reason, "HOLD_NOT_OPEN", "an expired hold cannot be revived");
});

h.test("PlaceHold is idempotent per request_id and refuses a reused key with other parameters", async (t) => {
  const payer = await h.user();
  await h.fund(payer.userId, 1000n);
  const request = {
    userId: payer.userId,
    amount: inr(400n),
    requestId: newId(),
    reference: "session:a",
    ttlSeconds: 60n,
  };
  const first = await h.client.placeHold(request, h.as.session);
  const again = await h.client.placeHold(request, h.as.session);
  t.same(again, first, "the original hold, not a second one");
  t.same((await available(payer)).held, inr(400n));
  const reused = await failure(h.client.placeHold({ ...request, amount: inr(500n) }, h.as.session));
  t.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
  const released = await h.client.releaseHold({ holdId: first.hold!.holdId, requestId: "r1" }, h.as.session);
  const releasedAgain = await h.client.releaseHold(
    { holdId: first.hold!.holdId, requestId: "r1" },
    h.as.session,
  );
  t.same(releasedAgain, released, "a retried release returns the original answer");
  t.equal(released.hold?.status, HoldStatus.HOLD_STATUS_RELEASED);
  t.equal(
    (
      await failure(
        h.client.getWallet({ userId: payer.userId, currency: "", rateMinor: 0n }, (await h.user()).call),
      )
    ).kind,
    "permission_denied",
  );
});

h.test("ledger entries cannot be rewritten, even with SQL", async (t) => {
  await t.rejects(h.sql`update billing.entries set amount = amount + 1`, /append-only/);
  await t.rejects(h.sql`delete from billing.entries`, /append-only/);
  await t.rejects(h.sql`delete from billing.transactions`, /append-only/);
});

h.test("a hold refused for funds can be retried with the same request_id after a top-up", async (t) => {
  const payer = await h.user();
  const request = {
    userId: payer.userId,
    amount: inr(700n),
    requestId: newId(),
    reference: "session:r",
    ttlSeconds: 60n,
  };
  t.equal((await failure(h.client.placeHold(request, h.as.session))).reason, "INSUFFICIENT_FUNDS");
  await h.fund(payer.userId, 700n);
  const { hold } = await h.client.placeHold(request, h.as.session);
  t.equal(hold?.status, HoldStatus.HOLD_STATUS_OPEN);
});
