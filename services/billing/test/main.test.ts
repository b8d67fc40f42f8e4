import { randomBytes } from "node:crypto";
import { createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import {
  createServiceRole,
  createTestDatabase,
  createTestIssuer,
  failure,
  spawnService,
} from "@parley/testing";
import t from "tap";
import { BILLING_MIGRATIONS } from "../src/server";

t.test(
  "the entry point migrates its database, serves gRPC and verifies tokens from TRUSTED_JWKS",
  async (t) => {
    const issuer = await createTestIssuer();
    const { url } = await createTestDatabase(t);
    const billing = await spawnService(t, "billing", {
      DATABASE_URL: url,
      TRUSTED_JWKS: JSON.stringify(issuer.jwks),
      JWT_ISSUER: issuer.issuer,
      JWT_AUDIENCE: issuer.audience,
    });
    const client = createServiceClient(BillingServiceService, { address: billing.address });
    t.teardown(() => client.close());
    const { wallet } = await client.getWallet(
      { userId: "", currency: "", rateMinor: 100n },
      { bearerToken: await issuer.userToken() },
    );
    t.same(
      wallet?.balance,
      { amountMinor: 0n, currency: "INR" },
      "a new user's wallet reads as zero in the default currency",
    );
  },
);

t.test("with MIGRATION_DATABASE_URL the service itself runs as a role with data access only", async (t) => {
  const issuer = await createTestIssuer();
  const { url } = await createTestDatabase(t, { migrations: [BILLING_MIGRATIONS] });
  const billing = await spawnService(t, "billing", {
    MIGRATION_DATABASE_URL: url,
    DATABASE_URL: await createServiceRole(t, url, "billing"),
    TRUSTED_JWKS: JSON.stringify(issuer.jwks),
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
  });
  const client = createServiceClient(BillingServiceService, { address: billing.address });
  t.teardown(() => client.close());
  const admin = { bearerToken: await issuer.userToken({ role: "admin" }) };
  const userId = newId();
  const { wallet } = await client.grantCredit(
    { userId, amount: { amountMinor: 500n, currency: "INR" }, note: "", requestId: newId() },
    admin,
  );
  t.same(wallet?.balance, { amountMinor: 500n, currency: "INR" }, "money moves under the data-only role");
});

t.test("under NODE_ENV=production without RazorpayX, payouts are refused, not marked paid", async (t) => {
  const issuer = await createTestIssuer();
  const { url } = await createTestDatabase(t);
  const billing = await spawnService(t, "billing", {
    NODE_ENV: "production",
    DATABASE_URL: url,
    TRUSTED_JWKS: JSON.stringify(issuer.jwks),
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
    PAYOUT_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  });
  const client = createServiceClient(BillingServiceService, { address: billing.address });
  t.teardown(() => client.close());
  const expert = { bearerToken: await issuer.userToken({ role: "expert" }) };
  const refused = await failure(
    client.requestWithdrawal(
      { amount: { amountMinor: 50_000n, currency: "INR" }, requestId: newId() },
      expert,
    ),
  );
  t.equal(refused.reason, "PAYOUTS_NOT_CONFIGURED", "the development rail, which pays at once, is not there");
  const operator = { bearerToken: await issuer.userToken({ role: "operator" }) };
  const retried = await failure(client.retryPayout({ payoutId: newId() }, operator));
  t.equal(
    retried.reason,
    "PAYOUTS_NOT_CONFIGURED",
    "nor is a retry taken from earnings for nothing to send it",
  );
});
