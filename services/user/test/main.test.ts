import { createServiceClient } from "@parley/kit/grpc";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { createTestDatabase, createTestIssuer, spawnService } from "@parley/testing";
import t from "tap";

t.test(
  "the entry point migrates its database, serves gRPC and verifies tokens from TRUSTED_JWKS",
  async (t) => {
    const issuer = await createTestIssuer();
    const { url } = await createTestDatabase(t);
    const user = await spawnService(t, "user", {
      DATABASE_URL: url,
      TRUSTED_JWKS: JSON.stringify(issuer.jwks),
      JWT_ISSUER: issuer.issuer,
      JWT_AUDIENCE: issuer.audience,
    });
    const client = createServiceClient(UserServiceService, { address: user.address });
    t.teardown(() => client.close());
    const { profile } = await client.getMe(
      {},
      { bearerToken: await issuer.userToken({ userId: "0190d7a4-0000-7000-8000-000000000001" }) },
    );
    t.equal(profile?.userId, "0190d7a4-0000-7000-8000-000000000001");
    t.equal(profile?.displayName, "New user", "a default profile was created on first read");
  },
);
