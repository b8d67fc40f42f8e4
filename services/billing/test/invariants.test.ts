import { newId } from "@parley/kit/ids";
import postgres from "postgres";
import t from "tap";
import { inr, startHarness } from "./harness";

// The database refuses what no code path should ever do, even from the service's own role
// (data access, no ownership), which the harness also runs every move of this suite as.
const h = await startHarness(t);
const role = postgres(h.serviceUrl, { max: 1, onnotice: () => {}, types: { bigint: postgres.BigInt } });
t.teardown(() => role.end({ timeout: 5 }));

const walletOf = async (userId: string) => {
  const [row] = await h.sql<{ id: string; balance: bigint; held: bigint }[]>`
    select id, balance, held from billing.accounts where kind = 'wallet' and owner_id = ${userId}`;
  return row!;
};
const platformAccount = async () => {
  const [row] = await h.sql<
    { id: string }[]
  >`select id from billing.accounts where kind = 'promotions' limit 1`;
  return row!.id;
};
/** Runs `work` in a transaction as the service's role; resolves with the error the database raised. */
const refused = (work: (tx: postgres.TransactionSql) => Promise<unknown>) =>
  role.begin(work).then(
    () => undefined,
    (error: { message: string; code: string; constraint_name?: string }) => error,
  );

h.test("a journal transaction whose entries do not sum to zero is refused at commit", async (t) => {
  const user = await h.user();
  await h.fund(user.userId, 1000n);
  const wallet = await walletOf(user.userId);
  const promotions = await platformAccount();
  const transactionId = newId();
  const error = await refused(async (tx) => {
    await tx`insert into billing.transactions (id, type, currency, reference) values (${transactionId}, 'promotion', 'INR', 'forged')`;
    await tx`
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${transactionId}, ${promotions}, -500, null), (${transactionId}, ${wallet.id}, 5000, 6000)`;
    await tx`update billing.accounts set balance = balance + 5000 where id = ${wallet.id}`;
  });
  t.equal(error?.constraint_name, "transactions_balanced", "refused by the deferred trigger");
  const alone = await refused(async (tx) => {
    await tx`insert into billing.transactions (id, type, currency, reference) values (${newId()}, 'promotion', 'INR', 'empty')`;
  });
  t.equal(alone?.constraint_name, "transactions_balanced", "a journal transaction without entries too");
  t.equal((await walletOf(user.userId)).balance, 1000n, "nothing was credited");
});

h.test("a session charge balances at the end of the statement that wrote it", async (t) => {
  const user = await h.user();
  await h.fund(user.userId, 1000n);
  const wallet = await walletOf(user.userId);
  const promotions = await platformAccount();
  const transactionId = newId();
  const alone = await refused(async (tx) => {
    await tx`insert into billing.transactions (id, type, currency, reference) values (${transactionId}, 'session_charge', 'INR', 'x')`;
    await tx`
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${transactionId}, ${wallet.id}, -100, 900), (${transactionId}, ${promotions}, 100, null)`;
  });
  t.equal(alone?.constraint_name, "transactions_balanced", "its entries in a later statement: refused");
  const unbalanced = await refused(
    (tx) => tx`
      with journal as (
        insert into billing.transactions (id, type, currency, reference) values (${newId()}, 'session_charge', 'INR', 'x')
        returning id
      )
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      select id, ${wallet.id}::uuid, -100::int8, 900::int8 from journal
      union all select id, ${promotions}::uuid, 99, null from journal`,
  );
  t.equal(unbalanced?.constraint_name, "transactions_balanced", "entries not summing to zero: refused");
  const added = await refused(async (tx) => {
    const id = newId();
    await tx`
      with journal as (
        insert into billing.transactions (id, type, currency, reference) values (${id}, 'session_charge', 'INR', 'x')
      )
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${id}, ${wallet.id}, -100, 900), (${id}, ${promotions}, 100, null)`;
    await tx`
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${id}, ${promotions}, -100, null), (${id}, ${wallet.id}, 100, 1000)`;
  });
  t.equal(
    added?.constraint_name,
    "entries_transaction_written_together",
    "entries added by a later statement, even balanced: refused",
  );
  t.equal((await walletOf(user.userId)).balance, 1000n, "nothing moved");
});

h.test(
  "entries cannot be added to a journal transaction written earlier, nor name a missing account",
  async (t) => {
    const user = await h.user();
    await h.fund(user.userId, 1000n);
    const [earlier] = await h.sql<{ transaction_id: string }[]>`
    select e.transaction_id from billing.entries e join billing.accounts a on a.id = e.account_id
    where a.owner_id = ${user.userId}`;
    const wallet = await walletOf(user.userId);
    const promotions = await platformAccount();
    const added = await refused(async (tx) => {
      await tx`
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${earlier!.transaction_id}, ${promotions}, -700, null), (${earlier!.transaction_id}, ${wallet.id}, 700, 1700)`;
    });
    t.equal(added?.constraint_name, "entries_transaction_written_together");
    const transactionId = newId();
    const nowhere = await refused(async (tx) => {
      await tx`insert into billing.transactions (id, type, currency, reference) values (${transactionId}, 'promotion', 'INR', 'x')`;
      await tx`
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${transactionId}, ${promotions}, -1, null), (${transactionId}, ${newId()}, 1, 1)`;
    });
    t.equal(nowhere?.constraint_name, "entries_account_exists");
  },
);

h.test("no open hold may make a wallet's available balance negative", async (t) => {
  const user = await h.user();
  await h.fund(user.userId, 1000n);
  const wallet = await walletOf(user.userId);
  const forgeHold = (tx: postgres.TransactionSql, amount: number) => tx`
    insert into billing.holds (id, account_id, user_id, currency, amount, status, reference, expires_at)
    values (${newId()}, ${wallet.id}, ${user.userId}, 'INR', ${amount}, 'open', 'forged', now() + interval '1 hour')`;
  const counted = await refused(async (tx) => {
    await forgeHold(tx, 5000);
    await tx`update billing.accounts set held = held + 5000 where id = ${wallet.id}`;
  });
  t.equal(counted?.constraint_name, "accounts_held_within_balance", "held beyond the balance: CHECK");
  const uncounted = await refused((tx) => forgeHold(tx, 5000));
  t.equal(uncounted?.constraint_name, "accounts_held_matches_holds", "a hold the wallet does not count");
  const { hold: real } = await h.client.placeHold(
    { userId: user.userId, amount: inr(600n), requestId: newId(), reference: "session:x", ttlSeconds: 600n },
    h.as.session,
  );
  const spent = await refused(async (tx) => {
    await tx`update billing.accounts set balance = balance - 500 where id = ${wallet.id}`;
  });
  t.equal(spent?.constraint_name, "accounts_held_within_balance", "spending what a hold reserves");
  const dropped = await refused(async (tx) => {
    await tx`update billing.holds set status = 'released' where id = ${real!.holdId}`;
  });
  t.equal(
    dropped?.constraint_name,
    "accounts_held_matches_holds",
    "releasing without giving back what was held",
  );
  const deleted = await refused(async (tx) => {
    await tx`delete from billing.holds where id = ${real!.holdId}`;
  });
  t.equal(deleted?.constraint_name, "accounts_held_matches_holds", "deleting an open hold");
  t.same(await walletOf(user.userId), { ...wallet, held: 600n }, "only the real hold counts");
});

h.test("charges are append-only and a settled session's minutes never change", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 5000n);
  const sessionId = newId();
  await h.client.charge(
    {
      sessionId,
      minute: 1n,
      payerUserId: payer.userId,
      payeeUserId: expert.userId,
      amount: inr(1000n),
      holdId: "",
    },
    h.as.session,
  );
  const updated = await refused(
    (tx) => tx`update billing.charges set amount = 1 where session_id = ${sessionId}`,
  );
  t.match(updated?.message, /append-only/);
  const deleted = await refused((tx) => tx`delete from billing.charges where session_id = ${sessionId}`);
  t.match(deleted?.message, /append-only/);
  const accounts = await refused((tx) => tx`delete from billing.accounts where owner_id = ${payer.userId}`);
  t.match(accounts?.message, /keep their identity/);
  const rekeyed = await refused(
    (tx) => tx`update billing.accounts set owner_id = 'someone-else' where owner_id = ${payer.userId}`,
  );
  t.match(rekeyed?.message, /keep their identity/);

  await h.sql`
    insert into billing.invoices (id, session_id, payer_user_id, payee_user_id, kind, currency, rate, minutes, charged, settle_hash)
    values (${newId()}, ${sessionId}, ${payer.userId}, ${expert.userId}, 'chat', 'INR', 1000, 1, 1000, 'x')`;
  const transactionId = newId();
  const wallet = await walletOf(payer.userId);
  const promotions = await platformAccount();
  const late = await refused(async (tx) => {
    await tx`
      with journal as (
        insert into billing.transactions (id, type, currency, reference) values (${transactionId}, 'session_charge', 'INR', 'x')
      )
      insert into billing.entries (transaction_id, account_id, amount, balance_after)
      values (${transactionId}, ${wallet.id}, -1000, 0), (${transactionId}, ${promotions}, 1000, null)`;
    await tx`
      insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency, amount,
        commission, request_hash, balance_after, available_after, hold_remaining_after)
      values (${transactionId}, ${sessionId}, 2, ${payer.userId}, ${expert.userId}, 'INR', 1000, 200, 'x', 0, 0, 0)`;
  });
  t.equal(late?.constraint_name, "charges_session_not_settled");
});

h.test("the service's role cannot switch the triggers off", async (t) => {
  const error = await refused((tx) => tx`alter table billing.entries disable trigger entries_append_only`);
  t.match(error?.message, /must be owner/);
});
