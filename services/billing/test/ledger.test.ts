import t from "tap";
import { type ChargeItem, planCharges } from "../src/domain/charges";
import { heldOf, WalletBook } from "../src/domain/ledger";
import type { HoldRecord, WalletSnapshot } from "../src/domain/model";
import { INT64_MAX } from "../src/domain/money";

// The ledger's decisions are pure functions of a snapshot: these run without a database.
/** The domain error a decision throws. */
function refusal(decide: () => unknown): { reason: string; metadata: Record<string, string> } {
  try {
    decide();
  } catch (error) {
    return error as { reason: string; metadata: Record<string, string> };
  }
  throw new Error("expected a refusal");
}

const now = new Date("2026-06-01T10:00:00Z");
const later = new Date("2026-06-01T11:00:00Z");
const earlier = new Date("2026-06-01T09:00:00Z");
const limits = { maxBalance: INT64_MAX };

const hold = (id: string, amount: bigint, captured = 0n, expiresAt = later): HoldRecord => ({
  holdId: id,
  accountId: "w1",
  userId: "payer",
  currency: "INR",
  amount,
  captured,
  status: "open",
  reference: `session:${id}`,
  expiresAt,
  createdAt: earlier,
  resolvedAt: null,
});
const wallet = (balance: bigint, holds: HoldRecord[] = []): WalletSnapshot => ({
  accountId: "w1",
  userId: "payer",
  currency: "INR",
  balance,
  holds,
});

t.test("held counts the remainder of live holds only", async (t) => {
  t.equal(heldOf([hold("a", 500n, 100n), hold("b", 300n, 0n, earlier)], now), 400n);
  t.equal(heldOf([{ ...hold("c", 500n), status: "released" }], now), 0n);
});

t.test("a debit draws from its hold first, then from available; a refusal changes nothing", async (t) => {
  const book = new WalletBook(wallet(2500n, [hold("h", 1500n)]), now, limits);
  t.same(book.debit(1000n, "h"), { fromHold: 1000n, balanceAfter: 1500n, holdRemaining: 500n });
  t.equal(book.available, 1000n, "the hold's rest stays held");
  t.same(book.debit(1000n, "h"), { fromHold: 500n, balanceAfter: 500n, holdRemaining: 0n });
  t.equal(book.hold("h")?.status, "captured");
  t.match(
    refusal(() => book.debit(1000n, "h")),
    {
      reason: "INSUFFICIENT_FUNDS",
      metadata: { shortfall_minor: "500" },
    },
  );
  t.equal(book.balance, 500n, "the refused debit left the balance as it was");
  t.equal(refusal(() => book.debit(1n, "other")).reason, "HOLD_NOT_FOUND");
  const changes = book.changes();
  t.same([changes.balance, changes.openHeld], [500n, 0n]);
  t.same(
    changes.holds.map((h) => [h.holdId, h.captured, h.status]),
    [["h", 1500n, "captured"]],
  );
});

t.test("holds past their expiry are expired on touch and stop reserving at once", async (t) => {
  const book = new WalletBook(wallet(1000n, [hold("old", 800n, 0n, earlier)]), now, limits);
  t.equal(book.available, 1000n);
  t.same(
    book.changes().holds.map((h) => [h.holdId, h.status, h.resolvedAt]),
    [["old", "expired", now]],
    "the plan writes the expiry, so the stored holds agree with the decision",
  );
});

t.test("credits stop at the wallet limit, which never passes int64", async (t) => {
  const book = new WalletBook(wallet(INT64_MAX - 5n), now, limits);
  t.equal(refusal(() => book.credit(6n)).reason, "WALLET_BALANCE_LIMIT_EXCEEDED");
  t.equal(book.credit(5n), INT64_MAX);
  const capped = new WalletBook(wallet(900n), now, { maxBalance: 1000n });
  t.equal(refusal(() => capped.credit(101n)).reason, "WALLET_BALANCE_LIMIT_EXCEEDED");
  t.equal(capped.balance, 900n);
});

t.test(
  "a batch's minutes are decided by wallet, session and minute, whatever the request order",
  async (t) => {
    const item = (sessionId: string, minute: bigint, payerUserId = "payer"): ChargeItem => ({
      sessionId,
      minute,
      payerUserId,
      payeeUserId: "expert",
      currency: "INR",
      amount: 1000n,
      commission: 200n,
      holdId: "",
      requestHash: `${sessionId}:${minute}`,
    });
    const items = [item("s2", 1n), item("s1", 2n), item("s1", 1n), item("s9", 1n, "stranger")];
    const plan = planCharges(
      items,
      { wallets: [wallet(2000n)], receipts: [], settledSessions: new Set() },
      { now, limits },
    );
    t.same(
      plan.outcomes.map((o) => o.kind),
      ["insufficient_funds", "charged", "charged", "insufficient_funds"],
      "s1:1 then s1:2 took the 2000; s2:1 came after them; a payer without a wallet pays nothing",
    );
    t.same(
      plan.charges.map((c) => [c.sessionId, c.minute, c.balanceAfter]),
      [
        ["s1", 1n, 1000n],
        ["s1", 2n, 0n],
      ],
    );
    t.same(
      plan.wallets.map((w) => w.balance),
      [0n],
    );
    t.ok(
      plan.postings.every((p) => p.lines.reduce((sum, line) => sum + line.amount, 0n) === 0n),
      "every posting balances",
    );
  },
);
