import { createServiceClient } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { createTestDatabase, createTestIssuer, spawnService } from "@parley/testing";
import t from "tap";

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
