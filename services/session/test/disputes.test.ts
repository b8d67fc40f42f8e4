import { failedPrecondition, unavailable } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import t from "tap";
import { failure, RATE, startHarness } from "./harness";

const harness = await startHarness(t);
const { session } = harness;
const as = (userId: string, role: "user" | "support") =>
  ({ kind: "user", userId, role, sessionId: newId(), assurance: "aal2" }) as const;

/** A chat of one charged minute, ended, and its user's dispute. */
async function disputed(funds = RATE * 20n) {
  const { user, sessionId } = await harness.activeSession({ funds });
  await harness.service.metering.tick();
  await session.endSession({ reason: "", sessionId }, user.call);
  const opened = await harness.service.safety.openDispute(as(user.userId, "user"), {
    sessionId,
    reason: "technical_issue",
    note: "it froze",
  });
  return { user, funds, opened };
}

t.test(
  "a dispute decision retried after billing refunded resolves it, whatever the note says now",
  async (t) => {
    const { user, funds, opened } = await disputed();
    const support = as(newId(), "support");
    // Billing refunds; the answer is lost on the way back, so the dispute is not recorded.
    const lost = harness.instance({
      ...harness.billingPort,
      refund: async (input) => {
        await harness.billingPort.refund(input);
        throw unavailable("BILLING_UNAVAILABLE", "the answer was lost");
      },
    });
    const decision = { disputeId: opened.id, decision: "full_refund" as const };
    await failure(lost.safety.resolveDispute(support, { ...decision, note: "the session froze" }));
    t.equal(await harness.available(user.userId), funds, "refunded at billing");
    const resolved = await harness.service.safety.resolveDispute(support, {
      ...decision,
      note: "The session froze: refunded in full.",
    });
    t.equal(resolved.status, "refunded_full", "support, asked again with other words, resolves it");
    t.equal(resolved.refundedMinor, RATE, "recording the refund billing made");
    t.ok(resolved.refundId);
    t.equal(resolved.resolutionNote, "The session froze: refunded in full.");
    t.equal(await harness.available(user.userId), funds, "refunded once");
  },
);

t.test("two decisions at once: the second is refused while the first's refund is on its way", async (t) => {
  const { user, funds, opened } = await disputed();
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => {
    letGo = resolve;
  });
  const slow = harness.instance({
    ...harness.billingPort,
    refund: async (input) => {
      await held;
      return harness.billingPort.refund(input);
    },
  });
  const refunding = slow.safety.resolveDispute(as(newId(), "support"), {
    disputeId: opened.id,
    decision: "full_refund",
    note: "the session froze",
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rejected = await failure(
    harness.service.safety.resolveDispute(as(newId(), "support"), {
      disputeId: opened.id,
      decision: "reject",
      note: "looks fine to me",
    }),
  );
  t.equal(rejected.reason, "DISPUTE_BEING_DECIDED", "no rejection recorded over a refund being made");
  t.same(rejected.metadata, { decision: "full_refund" }, "saying which decision holds it");
  letGo();
  const refunded = await refunding;
  t.equal(refunded.status, "refunded_full");
  t.equal(refunded.refundedMinor, RATE, "the refund made is the one recorded");
  t.equal(await harness.available(user.userId), funds);
});

t.test("a decision whose refund is refused gives way to another", async (t) => {
  const { opened } = await disputed();
  const support = as(newId(), "support");
  const refusing = harness.instance({
    ...harness.billingPort,
    refund: async () => {
      throw failedPrecondition("EARNINGS_INSUFFICIENT", "the expert has withdrawn it");
    },
  });
  const refused = await failure(
    refusing.safety.resolveDispute(support, {
      disputeId: opened.id,
      decision: "full_refund",
      note: "refund",
    }),
  );
  t.equal(refused.reason, "EARNINGS_INSUFFICIENT");
  const rejected = await harness.service.safety.resolveDispute(support, {
    disputeId: opened.id,
    decision: "reject",
    note: "no refund possible; closing",
  });
  t.equal(rejected.status, "rejected", "the refused decision no longer holds the dispute");
});

t.test("a partial refund retried with another amount after a lost answer keeps the first", async (t) => {
  const { user, funds, opened } = await disputed();
  const support = as(newId(), "support");
  const lost = harness.instance({
    ...harness.billingPort,
    refund: async (input) => {
      await harness.billingPort.refund(input);
      throw unavailable("BILLING_UNAVAILABLE", "the answer was lost");
    },
  });
  const partial = (minor: bigint) => ({
    disputeId: opened.id,
    decision: "partial_refund" as const,
    amount: { minor, currency: "INR" },
    note: "half",
  });
  await failure(lost.safety.resolveDispute(support, partial(RATE / 2n)));
  const other = await failure(harness.service.safety.resolveDispute(support, partial(RATE / 4n)));
  t.equal(other.reason, "DISPUTE_BEING_DECIDED", "another amount is another decision");
  t.same(other.metadata, { decision: "partial_refund", amount_minor: String(RATE / 2n) });
  const rejected = await failure(
    harness.service.safety.resolveDispute(support, { disputeId: opened.id, decision: "reject", note: "no" }),
  );
  t.equal(rejected.reason, "DISPUTE_BEING_DECIDED", "nor may the refund made be hidden by a rejection");
  const resolved = await harness.service.safety.resolveDispute(support, partial(RATE / 2n));
  t.equal(resolved.status, "refunded_partial");
  t.equal(resolved.refundedMinor, RATE / 2n, "the refund made is recorded");
  t.equal(await harness.available(user.userId), funds - RATE + RATE / 2n);
});
