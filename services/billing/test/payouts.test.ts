import { createHmac, randomBytes } from "node:crypto";
import { newId } from "@parley/kit/ids";
import { KycStatus, PayoutMethod, PayoutStatus } from "@parley/proto/parley/billing/v1/billing";
import {
  RAZORPAYX_ACCOUNT_NUMBER,
  RAZORPAYX_KEY_ID,
  RAZORPAYX_WEBHOOK_SECRET,
  razorpayXSettingsFor,
  razorpayXStandIn,
} from "@parley/testing";
import type postgres from "postgres";
import t from "tap";
import { createLedgerStore } from "../src/persistence/store";
import { isoWeek, isoWeekStart } from "../src/workers/automatic-payouts";
import { failure, genericPlanOf, inr, startHarness } from "./harness";

const rail = await razorpayXStandIn(t);
const h = await startHarness(t, {
  providers: { razorpayx: razorpayXSettingsFor(rail) },
  payoutKey: randomBytes(32),
  tdsBps: 1000,
  minPayout: 100n,
});

type Person = Awaited<ReturnType<typeof h.user>>;

/** An expert with `minutes` paid minutes of 10,000 paise (8,000 each to earnings after commission). */
const earning = async (minutes: number) => {
  const expert = await h.user("expert");
  const payer = await h.user();
  await h.fund(payer.userId, 10_000n * BigInt(minutes));
  const sessionId = newId();
  for (let minute = 1; minute <= minutes; minute++)
    await h.client.charge(
      {
        sessionId,
        minute: BigInt(minute),
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(10_000n),
        holdId: "",
      },
      h.as.session,
    );
  return expert;
};

const bankAccount = {
  method: PayoutMethod.PAYOUT_METHOD_BANK_ACCOUNT,
  holderName: "Asha Rao",
  accountNumber: "123456789012",
  ifsc: "HDFC0001234",
  upiId: "",
};

const verified = async (expert: Person) => {
  await h.client.setPayoutAccount(bankAccount, expert.call);
  await h.client.setKycStatus(
    { expertUserId: expert.userId, status: KycStatus.KYC_STATUS_VERIFIED, reason: "" },
    h.as.operator,
  );
};

const withdraw = (expert: Person, amountMinor: bigint, requestId = newId()) =>
  h.client.requestWithdrawal({ amount: inr(amountMinor), requestId }, expert.call);

const earnings = async (expert: Person) =>
  (await h.client.getEarnings({ expertUserId: "", currency: "INR" }, expert.call)).earnings!.balance!
    .amountMinor;

const webhook = (signed: { payload: Buffer; headers: Record<string, string> }) =>
  h.client.receiveProviderWebhook({ provider: "razorpayx", ...signed }, h.as.edge);

const payoutOf = async (expert: Person, payoutId: string) => {
  const { payouts } = await h.client.listPayouts(
    { expertUserId: expert.userId, status: 0, pageSize: 50, pageToken: "" },
    h.as.operator,
  );
  return payouts.find((p) => p.payoutId === payoutId)!;
};

h.test("payout accounts are stored sealed and shown masked; no payout before KYC is verified", async (t) => {
  const expert = await earning(1);
  const invalid = await failure(h.client.setPayoutAccount({ ...bankAccount, ifsc: "HDFC1234" }, expert.call));
  t.equal(invalid.reason, "VALIDATION_FAILED");
  const { account } = await h.client.setPayoutAccount(bankAccount, expert.call);
  t.same([account?.masked, account?.kycStatus], ["XXXXXXXX9012 · HDFC0001234", KycStatus.KYC_STATUS_PENDING]);
  const [stored] =
    await h.sql`select sealed_details from billing.payout_accounts where expert_user_id = ${expert.userId}`;
  t.notOk(
    (stored!.sealed_details as Buffer).toString("latin1").includes("123456789012"),
    "the number is not stored in the clear",
  );
  const pending = await failure(withdraw(expert, 1000n));
  t.same([pending.reason, pending.metadata?.kyc_status], ["KYC_NOT_VERIFIED", "pending"]);
  const noReason = await failure(
    h.client.setKycStatus(
      { expertUserId: expert.userId, status: KycStatus.KYC_STATUS_REJECTED, reason: "" },
      h.as.operator,
    ),
  );
  t.equal(noReason.reason, "VALIDATION_FAILED", "a rejection needs its reason");
  const rejected = await h.client.setKycStatus(
    {
      expertUserId: expert.userId,
      status: KycStatus.KYC_STATUS_REJECTED,
      reason: "PAN does not match the name",
    },
    h.as.operator,
  );
  t.same(
    [rejected.account?.kycStatus, rejected.account?.kycRejectionReason],
    [KycStatus.KYC_STATUS_REJECTED, "PAN does not match the name"],
  );
  t.equal((await failure(withdraw(expert, 1000n))).reason, "KYC_NOT_VERIFIED");
  const byExpert = await failure(
    h.client.setKycStatus(
      { expertUserId: expert.userId, status: KycStatus.KYC_STATUS_VERIFIED, reason: "" },
      expert.call,
    ),
  );
  t.equal(byExpert.kind, "permission_denied", "experts cannot verify themselves");
  const upi = await h.client.setPayoutAccount(
    {
      method: PayoutMethod.PAYOUT_METHOD_UPI,
      holderName: "Asha Rao",
      accountNumber: "",
      ifsc: "",
      upiId: "asha.rao@okaxis",
    },
    expert.call,
  );
  t.same(
    [upi.account?.masked, upi.account?.kycStatus],
    ["as•••@okaxis", KycStatus.KYC_STATUS_PENDING],
    "new details need KYC again",
  );
  t.equal(await earnings(expert), 8_000n, "earnings untouched");
});

h.test(
  "a payout from request to paid: earnings → clearing → paid-out and TDS, through RazorpayX",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    const above = await failure(withdraw(expert, 8_001n));
    t.same([above.reason, above.metadata?.withdrawable_minor], ["AMOUNT_EXCEEDS_WITHDRAWABLE", "8000"]);
    const below = await failure(withdraw(expert, 99n));
    t.equal(below.reason, "PAYOUT_BELOW_MINIMUM");
    const requestId = newId();
    const { payout } = await withdraw(expert, 5_000n, requestId);
    t.same(
      [payout?.status, payout?.amount?.amountMinor, payout?.tds?.amountMinor, payout?.net?.amountMinor],
      [PayoutStatus.PAYOUT_STATUS_PROCESSING, 5_000n, 500n, 4_500n],
      "10 % TDS withheld",
    );
    t.match(payout?.providerPayoutId, /^pout_/);
    const sent = rail.received.find((r) => r.body.reference_id === payout?.payoutId)!;
    t.equal(
      sent.headers.authorization,
      `Basic ${Buffer.from(`${RAZORPAYX_KEY_ID}:rzpx_secret_standin`).toString("base64")}`,
    );
    t.equal(sent.headers["x-payout-idempotency"], payout?.payoutId, "idempotent by payout id");
    t.same(sent.body, {
      account_number: RAZORPAYX_ACCOUNT_NUMBER,
      amount: 4_500,
      currency: "INR",
      mode: "IMPS",
      purpose: "payout",
      queue_if_low_balance: true,
      reference_id: payout?.payoutId,
      narration: "Parley earnings",
      fund_account: {
        account_type: "bank_account",
        bank_account: { name: "Asha Rao", ifsc: "HDFC0001234", account_number: "123456789012" },
        contact: { name: "Asha Rao", type: "vendor", reference_id: expert.userId },
      },
    });
    t.same(
      (await withdraw(expert, 5_000n, requestId)).payout,
      payout,
      "a retried request is the same payout",
    );
    t.equal(await earnings(expert), 3_000n, "the amount left earnings at once");
    const view = await h.client.getPayoutAccount({ expertUserId: "", currency: "" }, expert.call);
    t.same([view.withdrawable?.amountMinor, view.pending?.amountMinor], [3_000n, 5_000n]);

    const forged = await failure(
      webhook(rail.event("payout.processed", rail.payouts.get(payout!.providerPayoutId)!, { secret: "x" })),
    );
    t.equal(forged.reason, "SIGNATURE_INVALID");
    const processed = rail.event("payout.processed", {
      ...rail.payouts.get(payout!.providerPayoutId)!,
      status: "processed",
    });
    const first = await webhook(processed);
    t.notOk(first.duplicate);
    const replay = await webhook(processed);
    t.ok(replay.duplicate, "a replay changes nothing");
    const [listed] = (
      await h.client.listPayouts({ expertUserId: "", status: 0, pageSize: 0, pageToken: "" }, expert.call)
    ).payouts;
    t.same([listed?.payoutId, listed?.status], [payout?.payoutId, PayoutStatus.PAYOUT_STATUS_PAID]);
    t.equal(await earnings(expert), 3_000n);
  },
);

h.test(
  "a payout the provider reverses, and one it fails and staff retry, come back to earnings",
  async (t) => {
    const expert = await earning(2);
    await verified(expert);
    const { payout } = await withdraw(expert, 10_000n);
    const entity = rail.payouts.get(payout!.providerPayoutId)!;
    await webhook(rail.event("payout.processed", { ...entity, status: "processed" }));
    const reversed = await webhook(
      rail.event("payout.reversed", {
        ...entity,
        status: "reversed",
        failure_reason: "beneficiary bank rejected",
      }),
    );
    t.notOk(reversed.duplicate);
    t.equal(await earnings(expert), 16_000n, "a reversal after payment puts the money back in earnings");
    const [after] = (
      await h.client.listPayouts(
        { expertUserId: expert.userId, status: 0, pageSize: 1, pageToken: "" },
        h.as.operator,
      )
    ).payouts;
    t.same(
      [after?.status, after?.failureReason],
      [PayoutStatus.PAYOUT_STATUS_REVERSED, "beneficiary bank rejected"],
    );

    const second = (await withdraw(expert, 6_000n)).payout!;
    await webhook(
      rail.event("payout.failed", {
        ...rail.payouts.get(second.providerPayoutId)!,
        status: "failed",
        failure_reason: "IFSC inactive",
      }),
    );
    t.equal(await earnings(expert), 16_000n, "a failure before payment too");
    const { earnings: totals } = await h.client.getEarnings(
      { expertUserId: "", currency: "INR" },
      expert.call,
    );
    t.same(
      [totals?.earned?.amountMinor, totals?.refunded?.amountMinor],
      [16_000n, 0n],
      "payouts that left and came back are neither earned again nor refunded",
    );
    const notRetryable = await failure(h.client.retryPayout({ payoutId: payout!.payoutId }, h.as.operator));
    t.equal(notRetryable.reason, "PAYOUT_NOT_RETRYABLE");
    const retried = (await h.client.retryPayout({ payoutId: second.payoutId }, h.as.operator)).payout!;
    t.same([retried.status, retried.payoutId], [PayoutStatus.PAYOUT_STATUS_PROCESSING, second.payoutId]);
    t.not(retried.providerPayoutId, second.providerPayoutId, "sent again under a new idempotency key");
    t.equal(await earnings(expert), 10_000n, "taken from earnings again");
    const pending = await h.client.listPayouts(
      { expertUserId: "", status: PayoutStatus.PAYOUT_STATUS_PROCESSING, pageSize: 200, pageToken: "" },
      h.as.operator,
    );
    t.ok(
      pending.payouts.some((p) => p.payoutId === second.payoutId),
      "staff list the pending payouts",
    );
    const again = rail.payouts.get(retried.providerPayoutId)!;
    t.equal(
      again.reference_id,
      `${second.payoutId.replaceAll("-", "")}_2`,
      "the second attempt's reference names it, within RazorpayX's 36 characters",
    );
    // RazorpayX delivers webhooks at least once: the first attempt's failure comes again.
    const late = await webhook(
      rail.event("payout.failed", {
        ...rail.payouts.get(second.providerPayoutId)!,
        status: "failed",
        failure_reason: "IFSC inactive",
      }),
    );
    t.ok(late.duplicate, "the first attempt's failure, redelivered, changes nothing");
    t.equal(await earnings(expert), 10_000n, "the retried amount stays out of earnings");
    await webhook(rail.event("payout.processed", { ...again, status: "processed" }));
    t.equal((await payoutOf(expert, second.payoutId)).status, PayoutStatus.PAYOUT_STATUS_PAID);
    t.equal(await earnings(expert), 10_000n, "paid once");
    const manual = await webhook(
      rail.event("payout.processed", {
        ...again,
        id: "pout_manual",
        reference_id: "march rent",
        status: "processed",
      }),
    );
    t.notOk(
      manual.duplicate,
      "a payout made outside Parley (its own reference) is acknowledged and left alone",
    );
  },
);

h.test(
  "a rail that does not answer leaves the payout processing; staff's retry sends it again",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    rail.state.answer = "down";
    const { payout } = await withdraw(expert, 2_000n);
    t.same([payout?.status, payout?.providerPayoutId], [PayoutStatus.PAYOUT_STATUS_PROCESSING, ""]);
    rail.state.answer = "processed";
    const retried = (await h.client.retryPayout({ payoutId: payout!.payoutId }, h.as.operator)).payout!;
    rail.state.answer = "processing";
    t.equal(retried.status, PayoutStatus.PAYOUT_STATUS_PAID, "a rail that pays at once settles it at once");
    t.equal(await earnings(expert), 6_000n);
  },
);

h.test(
  "a payout the rail refuses outright fails at once, back to earnings, and is not sent again",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    rail.state.answer = "refused";
    const { payout } = await withdraw(expert, 2_000n);
    rail.state.answer = "processing";
    t.same(
      [payout?.status, payout?.failureReason],
      [PayoutStatus.PAYOUT_STATUS_FAILED, "razorpayx refused it: Amount exceeds the maximum for UPI"],
    );
    t.equal(await earnings(expert), 8_000n, "the amount is back in earnings, to withdraw otherwise");
    h.clock.advanceSeconds(16 * 60);
    await h.billing.reconcilePayoutsDue(200, 4, 60_000);
    t.equal(
      rail.received.filter((r) => r.method === "POST" && r.body.reference_id === payout?.payoutId).length,
      1,
      "reconciliation does not send it again",
    );
  },
);

/** Reconciliation as the worker runs it, once the payouts have waited past RECONCILE_AFTER_MS. */
const reconcileLater = async () => {
  h.clock.advanceSeconds(16 * 60);
  return h.billing.reconcilePayoutsDue(200, 4, 60_000);
};

h.test(
  "reconciliation settles a payout whose webhook never came, once, as the webhook would have",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    const { payout } = await withdraw(expert, 2_000n);
    const atRail = rail.payouts.get(payout!.providerPayoutId)!;
    t.equal(atRail.status, "processing");
    t.equal((await reconcileLater()).settled, 0, "still processing at the rail: nothing to do");
    t.equal((await payoutOf(expert, payout!.payoutId)).status, PayoutStatus.PAYOUT_STATUS_PROCESSING);
    atRail.status = "processed";
    const round = await reconcileLater();
    t.ok(round.settled >= 1, `settled (${JSON.stringify(round)})`);
    t.equal((await payoutOf(expert, payout!.payoutId)).status, PayoutStatus.PAYOUT_STATUS_PAID);
    t.equal(await earnings(expert), 6_000n, "the amount left earnings once");
    // The webhook arriving late changes nothing.
    await webhook(rail.event("payout.processed", atRail));
    t.equal((await payoutOf(expert, payout!.payoutId)).status, PayoutStatus.PAYOUT_STATUS_PAID);
    t.equal(await earnings(expert), 6_000n);

    // Failed at the rail: its amount back in earnings, with the rail's reason.
    const second = (await withdraw(expert, 2_000n)).payout!;
    const failed = rail.payouts.get(second.providerPayoutId)!;
    failed.status = "failed";
    failed.failure_reason = "beneficiary bank offline";
    await reconcileLater();
    const settled = await payoutOf(expert, second.payoutId);
    t.same(
      [settled.status, settled.failureReason],
      [PayoutStatus.PAYOUT_STATUS_FAILED, "beneficiary bank offline"],
    );
    t.equal(await earnings(expert), 6_000n, "back in earnings");
  },
);

h.test(
  "reconciliation finds a payout whose answer was lost, and sends again one the rail never got",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    // Made at the rail, but the answer lost: processing here, with no id of the rail's.
    rail.state.answer = "lost";
    const lost = (await withdraw(expert, 2_000n)).payout!;
    rail.state.answer = "processing";
    t.equal(lost.providerPayoutId, "");
    const atRail = [...rail.payouts.values()].filter((p) => p.reference_id === lost.payoutId);
    t.equal(atRail.length, 1, "the rail made it");
    atRail[0]!.status = "processed";
    await reconcileLater();
    const found = await payoutOf(expert, lost.payoutId);
    t.same(
      [found.status, found.providerPayoutId],
      [PayoutStatus.PAYOUT_STATUS_PAID, atRail[0]!.id],
      "found by its reference, settled, never sent twice",
    );
    t.equal([...rail.payouts.values()].filter((p) => p.reference_id === lost.payoutId).length, 1);

    // Never reached the rail: sent again by reconciliation, under the same idempotency key.
    rail.state.answer = "down";
    const unsent = (await withdraw(expert, 2_000n)).payout!;
    rail.state.answer = "processing";
    t.equal([...rail.payouts.values()].filter((p) => p.reference_id === unsent.payoutId).length, 0);
    const round = await reconcileLater();
    t.ok(round.sent >= 1, `sent (${JSON.stringify(round)})`);
    const sent = await payoutOf(expert, unsent.payoutId);
    t.equal(sent.status, PayoutStatus.PAYOUT_STATUS_PROCESSING, "processing at the rail now");
    t.match(sent.providerPayoutId, /^pout_/);
    const keys = rail.received
      .filter((r) => r.method === "POST" && r.body.reference_id === unsent.payoutId)
      .map((r) => r.headers["x-payout-idempotency"]);
    t.same(keys, [unsent.payoutId, unsent.payoutId], "the same idempotency key both times");
    await reconcileLater();
    t.equal(
      [...rail.payouts.values()].filter((p) => p.reference_id === unsent.payoutId).length,
      1,
      "a later round asks about it, it does not send it again",
    );

    // A frozen expert's unsent payout waits: reconciliation sends nothing to them.
    rail.state.answer = "down";
    const held = (await withdraw(expert, 2_000n)).payout!;
    rail.state.answer = "processing";
    await h.billing.setWalletFrozen(expert.userId, true);
    await reconcileLater();
    t.equal([...rail.payouts.values()].filter((p) => p.reference_id === held.payoutId).length, 0);
    t.equal((await payoutOf(expert, held.payoutId)).providerPayoutId, "", "not sent while frozen");
    await h.billing.setWalletFrozen(expert.userId, false);
  },
);

h.test(
  "a payout goes to the account verified when it was taken, never to details changed after",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    const sentTo = (payoutId: string) =>
      rail.received
        .filter((r) => r.method === "POST" && r.body.reference_id === payoutId)
        .map(
          (r) =>
            (r.body.fund_account as { bank_account: { account_number: string } }).bank_account.account_number,
        );
    // Taken while RazorpayX was down: not sent yet.
    rail.state.answer = "down";
    const { payout } = await withdraw(expert, 2_000n);
    rail.state.answer = "processing";
    // The expert's login is taken over and the account changed: KYC pending again.
    await h.client.setPayoutAccount({ ...bankAccount, accountNumber: "998877665544" }, expert.call);
    const round = await reconcileLater();
    t.ok(round.sent >= 1, `sent by reconciliation (${JSON.stringify(round)})`);
    t.same(sentTo(payout!.payoutId), ["123456789012", "123456789012"], "to the verified account, both times");
    t.equal((await failure(withdraw(expert, 1_000n))).reason, "KYC_NOT_VERIFIED", "the new one gets nothing");

    // The change lands while a withdrawal waits for the earnings lock, having read the account verified.
    await h.client.setKycStatus(
      { expertUserId: expert.userId, status: KycStatus.KYC_STATUS_VERIFIED, reason: "" },
      h.as.operator,
    );
    let racing: Promise<unknown> | undefined;
    await h.sql.begin(async (tx) => {
      await tx`select 1 from billing.accounts where kind = 'earnings' and owner_id = ${expert.userId} for update`;
      racing = withdraw(expert, 1_000n).then(
        () => "paid",
        (error: { reason?: string }) => error.reason,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await h.client.setPayoutAccount({ ...bankAccount, accountNumber: "112233445566" }, expert.call);
    });
    t.equal(await racing, "KYC_NOT_VERIFIED", "refused under the lock, nothing taken");
    t.equal(await earnings(expert), 6_000n, "earnings keep what that withdrawal would have taken");
  },
);

h.test("two withdrawals racing for the same earnings cannot overdraw them", async (t) => {
  const expert = await earning(1);
  await verified(expert);
  const results = await Promise.allSettled(Array.from({ length: 4 }, () => withdraw(expert, 6_000n)));
  const won = results.filter((r) => r.status === "fulfilled");
  t.equal(won.length, 1, "one of them");
  for (const lost of results.filter((r) => r.status === "rejected"))
    t.equal((lost.reason as { reason: string }).reason, "AMOUNT_EXCEEDS_WITHDRAWABLE");
  t.equal(await earnings(expert), 2_000n);
});

h.test("the automatic payout pays verified experts above the threshold once a week", async (t) => {
  const rich = await earning(3);
  await verified(rich);
  const poor = await earning(1);
  await verified(poor);
  const run = (period: string) =>
    h.billing.runAutomaticPayouts({
      currency: "INR",
      threshold: 20_000n,
      period,
      since: isoWeekStart(h.clock.now),
      limit: 500,
    });
  await run(isoWeek(new Date("2026-12-03T00:00:00Z")));
  await run(isoWeek(new Date("2026-12-04T00:00:00Z")));
  t.equal(await earnings(rich), 0n, "all of it, once that week");
  t.equal(await earnings(poor), 8_000n, "below the threshold: nothing");
  const [auto] = (
    await h.client.listPayouts(
      { expertUserId: rich.userId, status: 0, pageSize: 5, pageToken: "" },
      h.as.operator,
    )
  ).payouts;
  t.same([auto?.automatic, auto?.amount?.amountMinor], [true, 24_000n]);
  t.equal(isoWeek(new Date("2026-12-03T00:00:00Z")), "2026-W49");
  t.same(
    isoWeekStart(new Date("2026-12-06T23:59:00Z")),
    new Date("2026-11-30T00:00:00Z"),
    "W49 began on Monday",
  );
});

h.test("the automatic payout's first experts are never the same ones again and again", async (t) => {
  // Amounts no other test's experts earn, so only this test's are due at this threshold.
  const threshold = 1_000_000n;
  const earn = async (expert: Person) => {
    const payer = await h.user();
    await h.fund(payer.userId, 1_500_000n);
    await h.client.charge(
      {
        sessionId: newId(),
        minute: 1n,
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(1_500_000n),
        holdId: "",
      },
      h.as.session,
    );
  };
  const expert = async () => {
    const person = await h.user("expert");
    await earn(person);
    await verified(person);
    return person;
  };
  const first = await expert();
  // Experts after `first` in the order the payout takes them (by id).
  const later = async () => {
    let person = await expert();
    while (person.userId < first.userId) person = await expert();
    return person;
  };
  const second = await later();
  // One expert a round (a real round takes 500).
  const run = () =>
    h.billing.runAutomaticPayouts({
      currency: "INR",
      threshold,
      period: "2026-W50",
      since: isoWeekStart(h.clock.now),
      limit: 1,
    });
  await h.billing.setWalletFrozen(first.userId, true);
  await run();
  t.equal(await earnings(second), 0n, "a frozen expert is passed over, not tried again in everyone's place");
  await h.billing.setWalletFrozen(first.userId, false);
  await run();
  t.equal(await earnings(first), 0n, "paid once unfrozen");
  await earn(first);
  const third = await later();
  await run();
  t.equal(await earnings(first), 1_200_000n, "one paid this week and earning again waits for next week");
  t.equal(await earnings(third), 0n, "the next expert is paid instead");
});

h.test("KYC set by RazorpayX's account validation webhook", async (t) => {
  const expert = await earning(1);
  await h.client.setPayoutAccount(bankAccount, expert.call);
  const validation = (
    event: string,
    accountStatus: string,
    createdAt = Math.floor(h.clock.now.getTime() / 1000),
  ) => {
    const payload = Buffer.from(
      JSON.stringify({
        entity: "event",
        event,
        payload: {
          "fund_account.validation": {
            entity: {
              id: `fav_${newId()}`,
              status: "completed",
              created_at: createdAt,
              results: { account_status: accountStatus },
              notes: { expert_user_id: expert.userId },
            },
          },
        },
      }),
    );
    return {
      payload,
      headers: {
        "x-razorpay-signature": createHmac("sha256", RAZORPAYX_WEBHOOK_SECRET).update(payload).digest("hex"),
        "x-razorpay-event-id": newId(),
      },
    };
  };
  await webhook(validation("fund_account.validation.completed", "invalid"));
  const rejected = await h.client.getPayoutAccount(
    { expertUserId: expert.userId, currency: "" },
    h.as.operator,
  );
  t.same(
    [rejected.account?.kycStatus, rejected.account?.kycRejectionReason],
    [KycStatus.KYC_STATUS_REJECTED, "account validation: invalid"],
  );
  await webhook(validation("fund_account.validation.completed", "active"));
  const verified = await h.client.getPayoutAccount(
    { expertUserId: expert.userId, currency: "" },
    h.as.operator,
  );
  t.equal(verified.account?.kycStatus, KycStatus.KYC_STATUS_VERIFIED);
  const { payout } = await withdraw(expert, 1_000n);
  t.equal(payout?.status, PayoutStatus.PAYOUT_STATUS_PROCESSING, "then payouts go through");

  // A validation of the old account, delivered (or delivered again) after the expert changed it.
  const ofOldAccount = Math.floor(h.clock.now.getTime() / 1000);
  h.clock.advanceSeconds(60);
  await h.client.setPayoutAccount({ ...bankAccount, accountNumber: "998877665544" }, expert.call);
  const late = await webhook(validation("fund_account.validation.completed", "active", ofOldAccount));
  t.ok(late.duplicate, "acknowledged, not applied");
  const changed = await h.client.getPayoutAccount(
    { expertUserId: expert.userId, currency: "" },
    h.as.operator,
  );
  t.equal(changed.account?.kycStatus, KycStatus.KYC_STATUS_PENDING, "the new account is not verified by it");
  h.clock.advanceSeconds(60);
  await h.client.setKycStatus(
    { expertUserId: expert.userId, status: KycStatus.KYC_STATUS_REJECTED, reason: "name mismatch" },
    h.as.operator,
  );
  await webhook(validation("fund_account.validation.completed", "active", ofOldAccount + 60));
  const decided = await h.client.getPayoutAccount(
    { expertUserId: expert.userId, currency: "" },
    h.as.operator,
  );
  t.equal(decided.account?.kycStatus, KycStatus.KYC_STATUS_REJECTED, "nor is staff's later decision undone");
  h.clock.advanceSeconds(60);
  await webhook(validation("fund_account.validation.completed", "active"));
  const revalidated = await h.client.getPayoutAccount(
    { expertUserId: expert.userId, currency: "" },
    h.as.operator,
  );
  t.equal(revalidated.account?.kycStatus, KycStatus.KYC_STATUS_VERIFIED, "a validation made since applies");
});

h.test(
  "a frozen expert is paid nothing out: staff cannot retry a failed payout, and a freeze landing during a withdrawal stops it",
  async (t) => {
    const expert = await earning(2);
    await verified(expert);
    const failed = (await withdraw(expert, 6_000n)).payout!;
    await webhook(
      rail.event("payout.failed", {
        ...rail.payouts.get(failed.providerPayoutId)!,
        status: "failed",
        failure_reason: "IFSC inactive",
      }),
    );
    t.equal(await earnings(expert), 16_000n);
    await h.billing.setWalletFrozen(expert.userId, true);
    const retry = await failure(h.client.retryPayout({ payoutId: failed.payoutId }, h.as.admin));
    t.equal(retry.reason, "WALLET_FROZEN", "staff's retry is refused");
    t.equal(await earnings(expert), 16_000n, "nothing left earnings");
    await h.billing.setWalletFrozen(expert.userId, false);

    // A freeze in progress (its wallet row locked, not committed yet) when a withdrawal that
    // passed the first check arrives: the withdrawal waits for it, and sees it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const freezing = h.sql.begin(async (tx) => {
      await tx`update billing.accounts set frozen_at = now() where kind = 'wallet' and owner_id = ${expert.userId}`;
      locked();
      await released;
    });
    await lockTaken;
    const racing = failure(withdraw(expert, 6_000n));
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    await freezing;
    t.equal((await racing).reason, "WALLET_FROZEN", "the freeze is seen under the lock");
    t.equal(await earnings(expert), 16_000n, "nothing left earnings");
    await h.billing.setWalletFrozen(expert.userId, false);
  },
);

h.test(
  "an expert's payouts, and one status's, are listed through their indexes, not a walk of every payout",
  async (t) => {
    const store = (pool: postgres.Sql) => createLedgerStore(pool).payouts;
    const page = { beforePayoutId: undefined, limit: 50 };
    const expert = newId();
    for (const [filters, index] of [
      [{ expertUserId: expert, status: undefined }, /"Index Name":"payouts_expert_newest"/],
      [{ expertUserId: undefined, status: "failed" as const }, /"Index Name":"payouts_status_newest"/],
      [{ expertUserId: expert, status: "failed" as const }, /"Index Name":"payouts_(expert|status)_newest"/],
    ] as const) {
      const plan = await genericPlanOf(t, h.serviceUrl, (pool) => store(pool).list({ ...filters, ...page }));
      t.match(plan, index, `${JSON.stringify(filters)}: through ${index.source}`);
    }
  },
);

h.test(
  "a withdrawal waits for a charge that holds the expert's wallet without holding their earnings (no deadlock)",
  async (t) => {
    const expert = await earning(2);
    await verified(expert);
    await h.fund(expert.userId, 1_000n);
    let withdrawal: Promise<unknown> | undefined;
    // A charge batch in which the expert pays (their wallet locked) and then earns (their
    // earnings updated), with a withdrawal of theirs arriving in between.
    await h.sql.begin(async (tx) => {
      await tx`select 1 from billing.accounts where kind = 'wallet' and owner_id = ${expert.userId} for update`;
      withdrawal = withdraw(expert, 2_000n);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await tx`set local lock_timeout = '3s'`;
      // Its lock only (a real charge writes an entry with it).
      await tx`update billing.accounts set balance = balance
        where kind = 'earnings' and owner_id = ${expert.userId}`;
    });
    const { payout } = (await withdrawal) as Awaited<ReturnType<typeof withdraw>>;
    t.equal(payout?.status, PayoutStatus.PAYOUT_STATUS_PROCESSING, "the withdrawal went through after it");
    t.equal(await earnings(expert), 14_000n);
  },
);

h.test(
  "a payout sent again and refused is found under its reference: not failed, not paid twice",
  async (t) => {
    const expert = await earning(1);
    await verified(expert);
    rail.state.answer = "lost";
    const { payout } = await withdraw(expert, 2_000n);
    rail.state.answer = "processing";
    t.same([payout?.status, payout?.providerPayoutId], [PayoutStatus.PAYOUT_STATUS_PROCESSING, ""]);
    const made = [...rail.payouts.values()].find((p) => p.reference_id === payout?.payoutId)!;
    t.ok(made, "RazorpayX made it; its answer was lost");
    // Sent again, it is refused (a limit of RazorpayX's lowered meanwhile, say): a 400.
    rail.state.answer = "refused";
    const retried = (await h.client.retryPayout({ payoutId: payout!.payoutId }, h.as.operator)).payout!;
    rail.state.answer = "processing";
    t.same(
      [retried.status, retried.providerPayoutId],
      [PayoutStatus.PAYOUT_STATUS_PROCESSING, made.id],
      "the refusal is not taken for nothing made: the payout made first is recorded",
    );
    t.equal(await earnings(expert), 6_000n, "and its money stays out of earnings");
  },
);
