// The kit server's staff-action hook on its own: the reason checked before the handler, the
// target from the answer, a person's own call left alone, a refusal recorded as denied (a
// staff-only RPC outside the map too), and an action that cannot be recorded answered
// AUDIT_UNAVAILABLE.
import * as grpc from "@grpc/grpc-js";
import { allow, type PersonRole, type Principal } from "@parley/kit/auth";
import { type StaffActionEvent, staffActionsOf } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { failure } from "@parley/testing";
import t from "tap";
import { startWalletServer } from "./harness";

const ADMIN = "0190a000-0000-7000-8000-000000000001";
const SUPPORT = "0190a000-0000-7000-8000-000000000002";
const PERSON = "0190a000-0000-7000-8000-000000000003";

t.test("staff actions: reason, target, own calls, refusals, and an unrecorded action", async (t) => {
  const recorded: StaffActionEvent[] = [];
  let recorderUp = true;
  let granted = 0;
  const { client } = await startWalletServer(t, {
    handlers: {
      async grantCredit() {
        granted++;
        return { transactionId: "t1", wallet: undefined };
      },
    },
    permissions: { grantCredit: allow.roles("admin"), reconcilePayment: allow.staff },
    // The bearer token is "role:user id": enough to be someone in this test.
    authenticate: async (metadata): Promise<Principal> => {
      const [role, userId] = String(metadata.get("authorization")[0] ?? "")
        .replace(/^Bearer /, "")
        .split(":");
      return { kind: "user", role: role as PersonRole, userId: userId!, sessionId: "", assurance: "aal1" };
    },
    staffActions: staffActionsOf(BillingServiceService, {
      grantCredit: { action: "wallet.grant_credit", reason: "note" },
      getWallet: {
        action: "wallet.view",
        target: (_request, response) => response?.wallet?.userId,
        own: (request, callerId) => request.userId === callerId,
      },
    }),
    recordStaffAction: async (_ctx, event) => {
      if (!recorderUp) throw new Error("auth is down");
      recorded.push(event);
    },
  });
  const as = (role: PersonRole, userId: string) => ({ bearerToken: `${role}:${userId}` });
  const grant = (note: string, caller = as("admin", ADMIN)) =>
    client.grantCredit(
      { userId: PERSON, amount: { amountMinor: 100n, currency: "INR" }, note, requestId: "r1" },
      caller,
    );

  const blank = await failure(grant("  "));
  t.equal(blank.code, grpc.status.INVALID_ARGUMENT);
  t.equal(blank.reason, "REASON_REQUIRED");
  const tooLong = await failure(grant("x".repeat(1001)));
  t.equal(tooLong.reason, "REASON_REQUIRED", "so is one over 1,000 characters");
  t.equal(granted, 0, "refused before the handler runs");

  await grant("goodwill");
  t.match(recorded.at(-1), {
    action: "wallet.grant_credit",
    targetUserId: PERSON,
    reason: "goodwill",
    outcome: "done",
  });

  const refused = await failure(grant("let me", as("support", SUPPORT)));
  t.equal(refused.code, grpc.status.PERMISSION_DENIED);
  t.match(recorded.at(-1), { action: "wallet.grant_credit", targetUserId: PERSON, outcome: "denied" });
  t.equal(granted, 1);

  const staffOnly = await failure(client.reconcilePayment({ paymentId: "p1" }, as("user", PERSON)));
  t.equal(staffOnly.code, grpc.status.PERMISSION_DENIED);
  t.match(
    recorded.at(-1),
    { action: "ReconcilePayment", outcome: "denied" },
    "a refused staff-only RPC outside the map is recorded by its name",
  );

  const count = recorded.length;
  await client.getWallet({ userId: PERSON, currency: "", rateMinor: 0n }, as("user", PERSON));
  await client.getWallet({ userId: SUPPORT, currency: "", rateMinor: 0n }, as("support", SUPPORT));
  t.equal(recorded.length, count, "a person's call, and staff on their own account, are not staff actions");
  await client.getWallet({ userId: PERSON, currency: "", rateMinor: 0n }, as("moderator", SUPPORT));
  t.match(recorded.at(-1), { action: "wallet.view", targetUserId: PERSON, reason: "", outcome: "done" });

  recorderUp = false;
  const unrecorded = await failure(grant("goodwill"));
  t.equal(unrecorded.code, grpc.status.UNAVAILABLE);
  t.equal(unrecorded.reason, "AUDIT_UNAVAILABLE", "done but not on the record: the caller sends it again");
});
