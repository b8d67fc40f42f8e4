import { randomUUID } from "node:crypto";
import { parseConfig } from "@parley/kit/config";
import { createServiceClient } from "@parley/kit/grpc";
import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { createTestDatabase, freePort, spawnService } from "@parley/testing";
import { decodeJwt } from "jose";
import postgres from "postgres";
import t from "tap";
import { authConfigShape } from "../src/config";
import { AUTH_MIGRATIONS } from "../src/server";
import { PASSWORD } from "./harness";

const SECRET = "process-test-signing-secret-0123456789";

t.test("config: every bad variable is named", async (t) => {
  t.throws(
    () =>
      parseConfig(authConfigShape, {
        DATABASE_URL: "mysql://x",
        SIGNING_KEY_SECRET: "short",
        PAGE_TOKEN_SECRET: "short",
        SERVICE_CREDENTIALS: "user",
      }),
    /DATABASE_URL[\s\S]*SIGNING_KEY_SECRET[\s\S]*PAGE_TOKEN_SECRET[\s\S]*SERVICE_CREDENTIALS/,
  );
  const config = parseConfig(authConfigShape, {
    DATABASE_URL: "postgres://localhost/x",
    SIGNING_KEY_SECRET: SECRET,
    PAGE_TOKEN_SECRET: SECRET,
    SERVICE_CREDENTIALS: "user:0123456789abcdef,edge:fedcba9876543210,edge:rotated-0123456789",
  });
  t.same(config.SERVICE_CREDENTIALS.get("user"), ["0123456789abcdef"]);
  t.same(
    config.SERVICE_CREDENTIALS.get("edge"),
    ["fedcba9876543210", "rotated-0123456789"],
    "two while rotating",
  );
  t.equal(config.ACCESS_TOKEN_TTL_SECONDS, 900);
  t.throws(
    () =>
      parseConfig(authConfigShape, {
        DATABASE_URL: "postgres://x",
        SIGNING_KEY_SECRET: SECRET,
        PAGE_TOKEN_SECRET: SECRET,
        ACCESS_TOKEN_TTL_SECONDS: "3600",
      }),
    /ACCESS_TOKEN_TTL_SECONDS/,
    "access tokens live at most 15 minutes",
  );
});

t.test(
  "main.ts: bootstrap admin, a registration's profile reaches the real user service through the outbox",
  async (t) => {
    const { url } = await createTestDatabase(t, { migrations: [AUTH_MIGRATIONS] });
    const credentials = "user:user-secret-0123456789,edge:edge-secret-0123456789";
    // user starts first (auth's outbox needs its address) and finds auth's keys on first use.
    const authPort = await freePort();
    const user = await spawnService(t, "user", {
      DATABASE_URL: url,
      AUTH_ADDRESS: `127.0.0.1:${authPort}`,
      SERVICE_NAME: "user",
      SERVICE_SECRET: "user-secret-0123456789",
    });
    const auth = await spawnService(t, "auth", {
      DATABASE_URL: url,
      GRPC_PORT: String(authPort),
      SIGNING_KEY_SECRET: SECRET,
      SERVICE_CREDENTIALS: credentials,
      USER_ADDRESS: user.address,
      BOOTSTRAP_ADMIN_EMAIL: "admin@parley.test",
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      OUTBOX_INTERVAL_MS: "50",
      // Counters of this run only, even on a Redis other runs share.
      REDIS_KEY_PREFIX: `parley-test-${randomUUID()}:`,
    });
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end());
    const client = createServiceClient(AuthServiceService, { address: auth.address });
    t.teardown(() => client.close());
    const users = createServiceClient(UserServiceService, { address: user.address });
    t.teardown(() => users.close());

    const login = await client.login({ identifier: "admin@parley.test", password: PASSWORD, deviceName: "" });
    t.equal(
      login.result?.$case === "tokens" && decodeJwt(login.result.value.accessToken).role,
      "admin",
      "the bootstrap admin exists",
    );

    const registered = await client.register({
      email: "priya@example.com",
      phone: "",
      password: PASSWORD,
      displayName: "Priya",
      deviceName: "",
    });
    const userId = registered.account!.userId;
    let delivered = false;
    for (let i = 0; i < 100 && !delivered; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const rows = await import("postgres").then(({ default: postgres }) => {
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        return sql`select display_name from users.profiles where user_id = ${userId}`.finally(() =>
          sql.end(),
        );
      });
      delivered = rows.length === 1 && rows[0]!.display_name === "Priya";
    }
    t.ok(delivered, "the outbox created the profile with the name given at registration");
    const me = await users.getMe({}, { bearerToken: registered.tokens!.accessToken });
    t.equal(
      me.profile?.displayName,
      "Priya",
      "the user service accepts auth's tokens (JWKS fetched from auth)",
    );

    // Three sign-in notices committed together are claimed together: one NotifyMany call, so one
    // statement in user, which stores them with one created_at, in the order written.
    const notices = ["d1", "d2", "d3"].map((device) => ({
      id: `notice-${device}`,
      payload: { kind: "notify.security", payload: { userId, notice: "new_sign_in", data: { device } } },
    }));
    await sql`insert into auth.outbox (id, payload)
      select * from unnest(${notices.map((n) => n.id)}::text[], ${notices.map((n) => JSON.stringify(n.payload))}::jsonb[])`;
    await sql`select pg_notify('outbox_auth_outbox', '')`;
    let stored: Array<{ seq: string; device: string; created_at: Date }> = [];
    for (let i = 0; i < 100 && stored.length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      stored = await sql`select seq::text, data->>'device' as device, created_at from users.notifications
        where user_id = ${userId} and producer = 'auth' order by seq`;
    }
    t.same(
      stored.map((n) => [n.seq, n.device]),
      [
        ["1", "d1"],
        ["2", "d2"],
        ["3", "d3"],
      ],
      "the notices reached the real user service in the order written",
    );
    t.equal(new Set(stored.map((n) => n.created_at.getTime())).size, 1, "in one NotifyMany call");
  },
);
