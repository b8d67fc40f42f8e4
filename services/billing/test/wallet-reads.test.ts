import { setImmediate as nextTurn } from "node:timers/promises";
import { newId } from "@parley/kit/ids";
import postgres from "postgres";
import t from "tap";
import { asSql, type Sql } from "../src/persistence/sql";
import { LEDGER_DATABASE_SETTINGS } from "../src/persistence/store";
import { WALLET_READ_MAX_WAIT_MS, walletReader } from "../src/persistence/wallet-reads";
import { inr, startHarness } from "./harness";

const h = await startHarness(t);
const pool = postgres(h.serviceUrl, {
  max: 10,
  connection: LEDGER_DATABASE_SETTINGS,
  onnotice: () => {},
  types: { bigint: postgres.BigInt },
});
t.teardown(() => pool.end({ timeout: 5 }));

/**
 * A reader over the service's own role, and how many statements it has sent. With `held`, the
 * first statement reaches Postgres only once `release` is called: a statement in flight, as long
 * as the test wants.
 */
const counted = ({ held = false } = {}) => {
  const sql = asSql(pool);
  const stats = { statements: 0 };
  let release = () => {};
  const gate = held ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
  const spied = ((...args: Parameters<Sql>) => {
    stats.statements++;
    return stats.statements === 1 ? gate.then(() => sql(...args)) : sql(...args);
  }) as unknown as Sql;
  return { read: walletReader(spied), stats, release };
};

const RATE = 1000n;
const placeHold = (userId: string, amountMinor: bigint) =>
  h.client.placeHold(
    {
      userId,
      amount: inr(amountMinor),
      requestId: newId(),
      reference: `session:${newId()}`,
      ttlSeconds: 600n,
    },
    h.as.session,
  );

h.test("reads asked together are one statement; each caller gets its own wallet", async (t) => {
  const [a, b, missing] = [await h.user(), await h.user(), await h.user()];
  await h.fund(a.userId, 3000n);
  await h.fund(b.userId, 7000n);
  await h.fund(b.userId, 500n, "USD");
  const { hold } = await placeHold(b.userId, 2000n);
  const { read, stats } = counted();
  const [walletA, walletB, againB, dollars, none] = await Promise.all([
    read(a.userId, "INR"),
    read(b.userId, "INR"),
    read(b.userId, "INR"),
    read(b.userId, "USD"),
    read(missing.userId, "INR"),
  ]);
  t.equal(stats.statements, 1, "one statement for the five reads");
  t.same([walletA.userId, walletA.balance, walletA.holds.length], [a.userId, 3000n, 0]);
  t.ok(walletA.accountId);
  t.same([walletB.userId, walletB.currency, walletB.balance], [b.userId, "INR", 7000n]);
  t.same(
    walletB.holds.map((each) => [each.holdId, each.amount, each.status]),
    [[hold!.holdId, 2000n, "open"]],
  );
  t.same(againB, walletB, "the same wallet asked twice reads the same");
  t.same([dollars.currency, dollars.balance, dollars.holds.length], ["USD", 500n, 0], "another currency");
  t.not(dollars.accountId, walletB.accountId);
  t.same(none, { accountId: undefined, userId: missing.userId, currency: "INR", balance: 0n, holds: [] });
  const later = await read(a.userId, "INR");
  t.equal(stats.statements, 2, "a read asked after the batch went goes in a statement of its own");
  t.same(later.balance, 3000n);
});

h.test("reads asked while a statement is in flight wait for it, then go together", async (t) => {
  const [a, b, c] = [await h.user(), await h.user(), await h.user()];
  await h.fund(a.userId, 100n);
  await h.fund(b.userId, 200n);
  await h.fund(c.userId, 300n);
  const { read, stats, release } = counted({ held: true });
  const first = read(a.userId, "INR");
  await nextTurn();
  // Asked in turns of their own, after the first statement went and before it answers.
  const second = read(b.userId, "INR");
  await nextTurn();
  const third = read(c.userId, "INR");
  await nextTurn();
  t.equal(stats.statements, 1, "the second batch waits for the statement in flight");
  release();
  const balances = (await Promise.all([first, second, third])).map((wallet) => wallet.balance);
  t.same(balances, [100n, 200n, 300n]);
  t.equal(stats.statements, 2, "the two reads asked meanwhile share the next statement");
});

h.test("a statement that does not answer holds the next batch back only briefly", async (t) => {
  const [a, b] = [await h.user(), await h.user()];
  await h.fund(a.userId, 100n);
  await h.fund(b.userId, 200n);
  const { read, stats, release } = counted({ held: true });
  const stuck = read(a.userId, "INR");
  await nextTurn();
  const asked = performance.now();
  const wallet = await read(b.userId, "INR");
  const waited = performance.now() - asked;
  t.equal(wallet.balance, 200n, "answered while the first statement is still held");
  t.ok(
    waited >= WALLET_READ_MAX_WAIT_MS - 1,
    `it waited for the statement in flight (${waited.toFixed(1)} ms)`,
  );
  t.equal(stats.statements, 2);
  release();
  t.equal((await stuck).balance, 100n);
});

h.test("reads racing committed charges see every charge committed before they asked", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  const minutes = 40;
  await h.fund(payer.userId, RATE * BigInt(minutes));
  const { read } = counted();
  const sessionId = newId();
  // Each read must see at least every charge answered before it was asked (it may see later
  // ones too), and only a balance the wallet has had.
  let committed = RATE * BigInt(minutes);
  const reads: Promise<void>[] = [];
  const ask = () => {
    const asked = committed;
    reads.push(
      read(payer.userId, "INR").then(({ balance }) => {
        if (balance > asked || balance < 0n || balance % RATE !== 0n)
          t.fail(`asked at ${asked}, a read saw ${balance}`);
      }),
    );
  };
  for (let minute = 1; minute <= minutes; minute++) {
    ask();
    const charging = h.client.charge(
      {
        sessionId,
        minute: BigInt(minute),
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(RATE),
        holdId: "",
      },
      h.as.session,
    );
    ask();
    const charged = await charging;
    committed = RATE * BigInt(minutes - minute);
    t.same(charged.balance, inr(committed));
    ask();
  }
  await Promise.all(reads);
  t.same((await read(payer.userId, "INR")).balance, 0n);
});

h.test("a wallet whose read fails fails only its own callers", async (t) => {
  const [a, b] = [await h.user(), await h.user()];
  await h.fund(a.userId, 1200n);
  await h.fund(b.userId, 3400n);
  const { read, stats } = counted();
  // Postgres refuses NUL in text: the statement of the three fails, then each wallet is read alone.
  const [walletA, refused, refusedAgain, walletB] = await Promise.allSettled([
    read(a.userId, "INR"),
    read("bad\u0000user", "INR"),
    read("bad\u0000user", "INR"),
    read(b.userId, "INR"),
  ]);
  t.same(walletA.status === "fulfilled" && walletA.value.balance, 1200n);
  t.same(walletB.status === "fulfilled" && walletB.value.balance, 3400n);
  t.equal(refused.status, "rejected", "the failing wallet's callers get the failure");
  t.equal(refusedAgain.status, "rejected");
  t.equal(stats.statements, 4, "the statement of three, then one for each wallet");
  const [alone] = await Promise.allSettled([read("bad\u0000user", "INR")]);
  t.equal(alone.status, "rejected", "a wallet read alone that fails is not read again");
  t.equal(stats.statements, 5);
});

h.test("concurrent GetWallet calls through the service each answer their own caller", async (t) => {
  const people = await Promise.all(Array.from({ length: 12 }, () => h.user()));
  for (const [i, person] of people.entries()) await h.fund(person.userId, 100n * BigInt(i + 1));
  const answers = await Promise.all(
    people.flatMap((person) =>
      [0, 1].map(() => h.client.getWallet({ userId: "", currency: "", rateMinor: 100n }, person.call)),
    ),
  );
  t.same(
    answers.map(({ wallet }) => [wallet?.userId, wallet?.balance?.amountMinor, wallet?.minutesLeft]),
    people.flatMap((person, i) => [0, 1].map(() => [person.userId, 100n * BigInt(i + 1), BigInt(i + 1)])),
  );
});
