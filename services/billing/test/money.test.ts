import t from "tap";
import {
  hashCharge,
  hashRequest,
  minutesPayable,
  proportionalShare,
  splitCommission,
} from "../src/domain/money";
import { decodeResponse, encodeResponse } from "../src/persistence/codec";

t.test("commission and earnings always add up to the amount; the platform's share rounds down", async (t) => {
  for (const amount of [1n, 7n, 999n, 1000n, 2n ** 62n + 1n]) {
    for (const bps of [0n, 1n, 2000n, 3333n, 10_000n]) {
      const { commission, earnings } = splitCommission(amount, bps);
      t.equal(commission + earnings, amount);
      t.equal(commission, (amount * bps) / 10_000n);
    }
  }
  t.same(splitCommission(999n, 2000n), { commission: 199n, earnings: 800n });
});

t.test("minutes payable are whole minutes, never negative", async (t) => {
  t.equal(minutesPayable(3700n, 1000n), 3n);
  t.equal(minutesPayable(-5n, 1000n), 0n);
  t.equal(minutesPayable(5000n, 0n), 0n);
});

t.test("a refund's commission share is proportional and exact for a full refund", async (t) => {
  t.equal(proportionalShare(1000n, 600n, 3000n), 200n);
  t.equal(proportionalShare(3000n, 600n, 3000n), 600n);
  t.equal(proportionalShare(1n, 600n, 3000n), 0n);
  t.equal(proportionalShare(5n, 0n, 0n), 0n);
});

t.test("request hashes ignore key order and see every parameter", async (t) => {
  t.equal(hashRequest({ a: 1n, b: { c: "x", d: 2 } }), hashRequest({ b: { d: 2, c: "x" }, a: 1n }));
  t.not(hashRequest({ a: 1n }), hashRequest({ a: 2n }));
  t.not(hashRequest({ a: 1n }), hashRequest({ a: "1n" }));
});

t.test("stored responses round-trip bigints beyond 2^53 and dates exactly", async (t) => {
  const value = {
    big: 2n ** 63n - 1n,
    negative: -(2n ** 60n),
    at: new Date("2026-01-02T03:04:05.678Z"),
    text: "12n?",
  };
  t.same(decodeResponse(encodeResponse(value)), value);
});

t.test("a charge's digest is hashRequest's, built faster", async (t) => {
  const charges = [
    {
      sessionId: "s-1",
      minute: 7n,
      payerUserId: "payer",
      payeeUserId: "payee",
      amount: { amountMinor: 2n ** 62n, currency: "INR" },
      holdId: "",
    },
    {
      sessionId: 'quote " backslash \\ ünïcode \u0001',
      minute: 1n,
      payerUserId: "a",
      payeeUserId: "b",
      amount: undefined,
      holdId: "0190d6c4-4f7e-7d3a-9f00-000000000000",
    },
  ];
  for (const charge of charges) t.equal(hashCharge(charge), hashRequest({ ...charge }));
});
