import { newId } from "@parley/kit/ids";
import {
  AccountKind,
  HoldStatus,
  InvoiceLineKind,
  RefundReason,
  SessionKind,
  TransactionType,
} from "@parley/proto/parley/billing/v1/billing";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);
const RATE = 1000n;

/** A session of `minutes` charged minutes between a fresh payer and expert. */
async function chargedSession(minutes: number) {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 100_000n);
  const sessionId = newId();
  for (let minute = 1; minute <= minutes; minute++) {
    await h.client.charge(
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
  }
  return { payer, expert, sessionId };
}

const refund = (sessionId: string, amountMinor: bigint | undefined, requestId = newId()) =>
  h.client.refund(
    {
      sessionId,
      amount: amountMinor === undefined ? undefined : inr(amountMinor),
      reason: RefundReason.REFUND_REASON_SERVICE_ISSUE,
      note: "dropped call",
      requestId,
    },
    h.as.operator,
  );

const walletBalance = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getWallet({ userId: "", currency: "", rateMinor: 0n }, user.call)).wallet!.balance;
const earnings = async (user: { call: { bearerToken: string } }) =>
  (await h.client.getEarnings({ expertUserId: "", currency: "" }, user.call)).earnings!;

h.test("refunds reverse earnings and commission, and never exceed what was charged", async (t) => {
  const { payer, expert, sessionId } = await chargedSession(3);
  t.same(await walletBalance(payer), inr(97_000n));
  const partial = await refund(sessionId, 1000n);
  t.same(partial.refund?.amount, inr(1000n));
  t.equal(partial.refund?.reason, RefundReason.REFUND_REASON_SERVICE_ISSUE);
  t.same(await walletBalance(payer), inr(98_000n));
  const [intent] =
    await h.sql`select payload from billing.notification_outbox where id = ${`${partial.refund!.refundId}:issued`}`;
  t.same(intent?.payload, {
    userId: payer.userId,
    kind: "refund_issued",
    data: {
      refund_id: partial.refund!.refundId,
      session_id: sessionId,
      amount_minor: "1000",
      currency: "INR",
    },
  });
  t.same((await earnings(expert)).balance, inr(1600n), "800 of the expert's 2400 reversed");
  const [revenue] = await h.sql`
    select sum(e.amount)::int8 as total from billing.entries e join billing.accounts a on a.id = e.account_id
    join billing.transactions tr on tr.id = e.transaction_id
    where a.kind = 'revenue' and tr.reference like 'refund:%' and tr.id = ${partial.refund!.transactionId}`;
  t.equal(revenue!.total, -200n, "the platform's 20 % commission reversed");
  const tooMuch = await failure(refund(sessionId, 2001n));
  t.equal(tooMuch.reason, "REFUND_EXCEEDS_CHARGED");
  t.equal(tooMuch.metadata.refundable_minor, "2000");
  const rest = await refund(sessionId, undefined);
  t.same(rest.refund?.amount, inr(2000n), "no amount: all that remains");
  t.same(await walletBalance(payer), inr(100_000n));
  const after = await earnings(expert);
  t.same([after.balance, after.earned, after.refunded], [inr(0n), inr(2400n), inr(2400n)]);
  t.equal((await failure(refund(sessionId, 1n))).reason, "REFUND_EXCEEDS_CHARGED", "nothing left to refund");
  const { transactions } = await h.client.listTransactions(
    { userId: "", account: AccountKind.ACCOUNT_KIND_WALLET, currency: "", pageSize: 1, pageToken: "" },
    payer.call,
  );
  t.equal(transactions[0]?.type, TransactionType.TRANSACTION_TYPE_REFUND);
  t.match(transactions[0]?.reference, /^refund:/);
});

h.test("concurrent refunds of one session stay within what was charged", async (t) => {
  const { payer, sessionId } = await chargedSession(2);
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => refund(sessionId, 700n)));
  t.equal(results.filter((r) => r.status === "fulfilled").length, 2, "2 × 700 fit in 2000, a third does not");
  t.same(await walletBalance(payer), inr(98_000n + 1400n));
});

h.test("refunds are for staff only, idempotent, and refuse a reused key", async (t) => {
  const { payer, sessionId } = await chargedSession(1);
  const denied = await failure(
    h.client.refund(
      {
        sessionId,
        amount: inr(100n),
        reason: RefundReason.REFUND_REASON_GOODWILL,
        note: "",
        requestId: newId(),
      },
      payer.call,
    ),
  );
  t.equal(denied.kind, "permission_denied");
  const requestId = newId();
  const first = await refund(sessionId, 100n, requestId);
  t.same(await refund(sessionId, 100n, requestId), first);
  t.equal((await failure(refund(sessionId, 200n, requestId))).reason, "IDEMPOTENCY_KEY_REUSED");
  t.same(await walletBalance(payer), inr(99_100n));
  t.equal((await failure(refund(newId(), 1n))).reason, "SESSION_CHARGES_NOT_FOUND");
});

h.test("settling a session releases its hold and issues one invoice with minutes and refunds", async (t) => {
  const payer = await h.user();
  const expert = await h.user("expert");
  await h.fund(payer.userId, 10_000n);
  const { hold } = await h.client.placeHold(
    {
      userId: payer.userId,
      amount: inr(5000n),
      requestId: newId(),
      reference: "session:s",
      ttlSeconds: 600n,
    },
    h.as.session,
  );
  const sessionId = newId();
  for (const minute of [1n, 2n, 3n]) {
    await h.client.charge(
      {
        sessionId,
        minute,
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(RATE),
        holdId: hold!.holdId,
      },
      h.as.session,
    );
  }
  const settle = {
    sessionId,
    payerUserId: payer.userId,
    payeeUserId: expert.userId,
    holdId: hold!.holdId,
    rate: inr(RATE),
    kind: SessionKind.SESSION_KIND_CHAT,
  };
  const { invoice } = await h.client.settleSession(settle, h.as.session);
  t.equal(invoice?.lines.length, 1);
  t.same(invoice?.lines[0], {
    kind: InvoiceLineKind.INVOICE_LINE_KIND_MINUTES,
    description: "3 chat minute(s) × 1000",
    quantity: 3n,
    unitPrice: inr(RATE),
    amount: inr(3000n),
  });
  t.same(invoice?.total, inr(3000n));
  const wallet = (await h.client.getWallet({ userId: "", currency: "", rateMinor: RATE }, payer.call))
    .wallet!;
  t.same(
    [wallet.balance, wallet.held, wallet.available, wallet.minutesLeft],
    [inr(7000n), inr(0n), inr(7000n), 7n],
  );
  const released = await failure(
    h.client.releaseHold({ holdId: hold!.holdId, requestId: newId() }, h.as.session),
  );
  t.equal(released.reason, "HOLD_NOT_OPEN", "settlement resolved the hold");
  t.equal(released.metadata.status, "released");
  t.same(
    (await h.client.settleSession(settle, h.as.session)).invoice,
    invoice,
    "settling again returns the same invoice",
  );
  const reused = await failure(h.client.settleSession({ ...settle, rate: inr(2000n) }, h.as.session));
  t.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");

  await refund(sessionId, 500n);
  const { invoice: withRefund } = await h.client.getInvoice({ invoiceId: invoice!.invoiceId }, payer.call);
  t.same(withRefund?.lines[1]?.amount, inr(-500n));
  t.equal(withRefund?.lines[1]?.kind, InvoiceLineKind.INVOICE_LINE_KIND_REFUND);
  t.same(withRefund?.total, inr(2500n));
  t.same(
    (await h.client.getInvoice({ invoiceId: invoice!.invoiceId }, expert.call)).invoice,
    withRefund,
    "the expert sees it too",
  );
  const stranger = await h.user();
  t.equal(
    (await failure(h.client.getInvoice({ invoiceId: invoice!.invoiceId }, stranger.call))).reason,
    "INVOICE_NOT_FOUND",
  );
  const listed = await h.client.listInvoices({ userId: "", pageSize: 10, pageToken: "" }, payer.call);
  t.same(
    listed.invoices.map((i) => i.invoiceId),
    [invoice!.invoiceId],
  );
  t.equal(HoldStatus.HOLD_STATUS_RELEASED, 3);
});

h.test("a refund in another currency than the session's is refused", async (t) => {
  const { sessionId } = await chargedSession(1);
  const error = await failure(
    h.client.refund(
      {
        sessionId,
        amount: { amountMinor: 500n, currency: "USD" },
        reason: RefundReason.REFUND_REASON_SERVICE_ISSUE,
        note: "",
        requestId: newId(),
      },
      h.as.operator,
    ),
  );
  t.equal(error.reason, "CURRENCY_MISMATCH");
  t.equal(error.kind, "invalid_argument");
});

h.test("a charge that arrives after its session was settled is refused and not invoiced", async (t) => {
  const { payer, expert, sessionId } = await chargedSession(2);
  const { invoice } = await h.client.settleSession(
    {
      sessionId,
      payerUserId: payer.userId,
      payeeUserId: expert.userId,
      holdId: "",
      rate: inr(RATE),
      kind: SessionKind.SESSION_KIND_CHAT,
    },
    h.as.session,
  );
  t.same(invoice?.total, inr(2000n));
  const late = await failure(
    h.client.charge(
      {
        sessionId,
        minute: 3n,
        payerUserId: payer.userId,
        payeeUserId: expert.userId,
        amount: inr(RATE),
        holdId: "",
      },
      h.as.session,
    ),
  );
  t.equal(late.reason, "SESSION_SETTLED");
  t.same(await walletBalance(payer), inr(98_000n), "the late minute moved no money");
});

h.test("ListTransactions pages newest first with balance before and after", async (t) => {
  const { payer, expert } = await chargedSession(5);
  const seen: bigint[] = [];
  let pageToken = "";
  do {
    const page = await h.client.listTransactions(
      { userId: "", account: AccountKind.ACCOUNT_KIND_UNSPECIFIED, currency: "", pageSize: 2, pageToken },
      payer.call,
    );
    for (const tx of page.transactions) {
      t.equal(tx.balanceBefore!.amountMinor + tx.amount!.amountMinor, tx.balanceAfter!.amountMinor);
      seen.push(tx.balanceAfter!.amountMinor);
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  t.same(
    seen,
    [95_000n, 96_000n, 97_000n, 98_000n, 99_000n, 100_000n],
    "5 charges then the funding credit, newest first",
  );
  const earningsHistory = await h.client.listTransactions(
    { userId: "", account: AccountKind.ACCOUNT_KIND_EARNINGS, currency: "", pageSize: 50, pageToken: "" },
    expert.call,
  );
  t.same(
    earningsHistory.transactions.map((tx) => tx.amount?.amountMinor),
    [800n, 800n, 800n, 800n, 800n],
  );
  const bad = await failure(
    h.client.listTransactions(
      { userId: "", account: 0, currency: "", pageSize: 2, pageToken: "bm90LWEtY3Vyc29y" },
      payer.call,
    ),
  );
  t.equal(bad.reason, "INVALID_PAGE_TOKEN");
});

h.test("concurrent settlements of one session issue one invoice", async (t) => {
  const { payer, expert, sessionId } = await chargedSession(2);
  const settle = {
    sessionId,
    payerUserId: payer.userId,
    payeeUserId: expert.userId,
    holdId: "",
    rate: inr(RATE),
    kind: SessionKind.SESSION_KIND_CALL,
  };
  const results = await Promise.all(
    Array.from({ length: 10 }, () => h.client.settleSession(settle, h.as.session)),
  );
  t.equal(new Set(results.map((r) => r.invoice?.invoiceId)).size, 1);
  t.same(results[0]?.invoice?.total, inr(2000n));
  const [row] = await h.sql`select count(*)::int as n from billing.invoices where session_id = ${sessionId}`;
  t.equal(row!.n, 1);
});
