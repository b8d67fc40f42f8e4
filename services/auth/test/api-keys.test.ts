import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { createServiceClient } from "@parley/kit/grpc";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { spawnService } from "@parley/testing";
import { decodeJwt } from "jose";
import t from "tap";
import { createUserDirectory } from "../src/clients/user";
import { createAuthStore } from "../src/persistence/store";
import { AUDIENCE, failure, ISSUER, SERVICE_SECRETS, SESSION_ROTATED_SECRET, startHarness } from "./harness";

t.test(
  "API keys: staff create them once, shown once, stored hashed; idempotent; scoped; revocable; expiring",
  async (t) => {
    const h = await startHarness(t);
    const admin = await h.admin();
    const person = await h.register();
    const request = {
      partnerId: "acme",
      name: "acme production",
      scopes: ["users:sync"],
      requestId: "req-1",
    };
    t.equal(
      (await failure(h.client.createApiKey(request, h.bearer(person.tokens)))).reason,
      "PERMISSION_DENIED",
    );
    const created = await h.client.createApiKey(request, admin.call);
    t.match(created.secret, /^pk_[A-Za-z0-9_-]{43}$/);
    t.equal(created.apiKey?.prefix, created.secret.slice(0, 11), "a visible prefix");
    const [row] = await h.sql<{ secret_hash: string }[]>`select secret_hash from auth.api_keys`;
    t.not(row!.secret_hash, created.secret, "stored as a keyed hash");

    const retried = await h.client.createApiKey(request, admin.call);
    t.equal(retried.apiKey?.keyId, created.apiKey?.keyId, "a retry returns the same key");
    t.equal(retried.secret, "", "without showing the secret again");
    const reused = await failure(h.client.createApiKey({ ...request, scopes: ["users:read"] }, admin.call));
    t.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
    t.equal(
      (await failure(h.client.createApiKey({ ...request, requestId: "req-2", scopes: ["root"] }, admin.call)))
        .reason,
      "UNKNOWN_SCOPE",
    );
    t.equal(
      (
        await failure(
          h.client.createApiKey({ ...request, requestId: "req-3", partnerId: "Bad Id" }, admin.call),
        )
      ).reason,
      "VALIDATION_FAILED",
    );

    const edge = await h.serviceCall("edge");
    const verified = await h.client.verifyApiKey({ apiKey: created.secret }, edge);
    t.same(verified, { keyId: created.apiKey?.keyId, partnerId: "acme", scopes: ["users:sync"] });
    t.equal(
      (await failure(h.client.verifyApiKey({ apiKey: created.secret }, h.bearer(person.tokens)))).reason,
      "PERMISSION_DENIED",
      "internal: services only",
    );
    t.equal((await failure(h.client.verifyApiKey({ apiKey: created.secret }))).reason, "UNAUTHENTICATED");
    const [used] = await h.sql<{ last_used_at: Date | null }[]>`select last_used_at from auth.api_keys`;
    t.ok(used!.last_used_at, "last use recorded");

    const listed = await h.client.listApiKeys({ partnerId: "acme", pageSize: 0, pageToken: "" }, admin.call);
    t.equal(listed.apiKeys.length, 1);
    t.notOk(JSON.stringify(listed).includes(created.secret), "listing never shows secrets");

    await h.client.revokeApiKey({ keyId: created.apiKey!.keyId }, admin.call);
    t.equal(
      (await failure(h.client.verifyApiKey({ apiKey: created.secret }, edge))).reason,
      "API_KEY_INVALID",
    );
    t.equal(
      (await failure(h.client.revokeApiKey({ keyId: "0190a000-0000-7000-8000-000000000000" }, admin.call)))
        .reason,
      "API_KEY_NOT_FOUND",
    );

    const expiring = await h.client.createApiKey(
      { ...request, requestId: "req-4", expireTime: new Date(h.clock.now.getTime() + 60_000) },
      admin.call,
    );
    t.ok(await h.client.verifyApiKey({ apiKey: expiring.secret }, edge));
    h.clock.advanceSeconds(61);
    t.equal(
      (await failure(h.client.verifyApiKey({ apiKey: expiring.secret }, await h.serviceCall("edge")))).reason,
      "API_KEY_INVALID",
    );
  },
);

t.test("service identities: a secret buys a service token; internal RPCs refuse people", async (t) => {
  const h = await startHarness(t);
  const issued = await h.client.issueServiceToken({
    serviceName: "session",
    secret: SERVICE_SECRETS.get("session")!,
  });
  t.match(decodeJwt(issued.accessToken), { sub: "service:session", role: "service" });
  t.match(await h.verifier.verify(issued.accessToken), { kind: "service", service: "session" });
  const rotated = await h.client.issueServiceToken({
    serviceName: "session",
    secret: SESSION_ROTATED_SECRET,
  });
  t.match(decodeJwt(rotated.accessToken), { sub: "service:session" }, "either secret while it is rotated");
  for (const [serviceName, secret] of [
    ["session", "wrong-secret-0123456789"],
    ["root", "whatever-0123456789abc"],
  ] as const) {
    t.equal(
      (await failure(h.client.issueServiceToken({ serviceName, secret }))).reason,
      "SERVICE_CREDENTIALS_INVALID",
    );
  }
});

t.test(
  "service tokens: wrong secrets are counted per calling address, never against a service",
  async (t) => {
    const h = await startHarness(t);
    const issue = (secret: string, clientIp: string) =>
      new Promise<ServiceError | null>((resolve) => {
        const metadata = new Metadata();
        metadata.set("x-client-ip", clientIp);
        h.plain.issueServiceToken({ serviceName: "session", secret }, metadata, (error) => resolve(error));
      });
    for (let i = 0; i < 60; i++) await issue("wrong-secret-0123456789", "203.0.113.9");
    t.equal((await issue("wrong-secret-0123456789", "203.0.113.9"))?.code, status.RESOURCE_EXHAUSTED);
    t.equal(
      await issue(SERVICE_SECRETS.get("session")!, "10.0.0.7"),
      null,
      "the session service, calling from its own address, still gets its token",
    );
  },
);

t.test(
  "ExchangeToken: a partner gets tokens for its own synced users only (real user service)",
  async (t) => {
    const h = await startHarness(t, {
      syncedUsers: { lookup: (partnerId, externalId) => users.syncedUsers.lookup(partnerId, externalId) },
    });
    const user = await spawnService(t, "user", {
      DATABASE_URL: h.databaseUrl,
      AUTH_ADDRESS: h.address,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      SERVICE_NAME: "user",
      SERVICE_SECRET: SERVICE_SECRETS.get("user")!,
    });
    const users = createUserDirectory(
      user.address,
      async () => (await h.domain.sessions.serviceToken("auth")).token,
    );
    t.teardown(users.close);
    const userClient = createServiceClient(UserServiceService, { address: user.address });
    t.teardown(() => userClient.close());

    const admin = await h.admin();
    const created = (partnerId: string, scopes: string[], requestId: string) =>
      h.client.createApiKey({ partnerId, name: partnerId, scopes, requestId }, admin.call);
    const key = (partnerId: string, scopes: string[], requestId: string) =>
      created(partnerId, scopes, requestId).then((r) => r.secret);
    const acmeKey = await created("acme", ["users:sync", "tokens:exchange"], "k1");
    const acme = acmeKey.secret;
    const globex = await key("globex", ["users:sync", "tokens:exchange"], "k2");
    const acmeSyncOnly = await key("acme", ["users:sync"], "k3");

    const synced = await userClient.syncUser(
      { record: { externalId: "u-42", displayName: "Priya", avatarUrl: "", bio: "", languages: ["en"] } },
      { apiKey: acme },
    );
    const userId = synced.result!.userId;
    t.ok(userId, "the user service verified the partner key through auth");

    const exchanged = await h.client.exchangeToken({ externalId: "u-42" }, { apiKey: acme });
    t.equal(exchanged.userId, userId);
    t.match(decodeJwt(exchanged.tokens!.accessToken), {
      sub: userId,
      role: "user",
      partner_id: "acme",
      acr: "aal1",
    });
    const me = await userClient.getMe({}, { bearerToken: exchanged.tokens!.accessToken });
    t.equal(me.profile?.displayName, "Priya", "the exchanged token works at other services");

    t.equal(
      (await failure(h.client.exchangeToken({ externalId: "u-42" }, { apiKey: globex }))).reason,
      "SYNCED_USER_NOT_FOUND",
      "never another partner's user",
    );
    t.equal(
      (await failure(h.client.exchangeToken({ externalId: "u-42" }, { apiKey: acmeSyncOnly }))).reason,
      "PERMISSION_DENIED",
      "needs tokens:exchange",
    );
    t.equal(
      (await failure(h.client.exchangeToken({ externalId: "nobody" }, { apiKey: acme }))).reason,
      "SYNCED_USER_NOT_FOUND",
    );

    // One exchanged before sessions recorded their key (migration 0009).
    const legacy = await h.client.exchangeToken({ externalId: "u-42" }, { apiKey: acme });
    await h.sql`update auth.login_sessions set api_key_id = null where id = ${legacy.tokens!.sessionId}`;
    // An exchange under way when the key is revoked stores nothing.
    const account = (await createAuthStore(h.sql, () => h.clock.now).findAccount(userId))!;
    const keyId = acmeKey.apiKey!.keyId;
    await h.client.revokeApiKey({ keyId }, admin.call);
    t.equal(
      (
        await failure(
          h.domain.sessions.start(
            account,
            "aal1",
            { ipAddress: "203.0.113.5", userAgent: "partner backend", deviceName: "partner:acme" },
            { partnerId: "acme", apiKeyId: keyId },
          ),
        )
      ).reason,
      "API_KEY_INVALID",
    );
    // What the key obtained ends with it.
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: exchanged.tokens!.refreshToken }))).reason,
      "SESSION_REVOKED",
      "the partner user's session obtained with the revoked key is revoked",
    );
    const [published] = await h.sql`select reason from auth.revocations
      where subject = ${`session:${exchanged.tokens!.sessionId}`}`;
    t.equal(published?.reason, "api_key_revoked", "and published, so its access tokens die at once");
    const live = await h.sql`select count(*)::int as n from auth.login_sessions
      where api_key_id = ${keyId} and revoked_at is null`;
    t.equal(live[0]!.n, 0, "no live session of the key is left");
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: legacy.tokens!.refreshToken }))).reason,
      "SESSION_REVOKED",
      "nor one of the partner's from before sessions recorded their key",
    );
  },
);

t.test(
  "API keys are made by admins only (support, operators refused: a key can act as any partner user), each one audited",
  async (t) => {
    const h = await startHarness(t);
    const admin = await h.admin();
    const request = {
      partnerId: "acme",
      name: "acme exchange",
      scopes: ["tokens:exchange"],
      requestId: "req-staff",
    };
    for (const role of ["support", "operator", "moderator"]) {
      const person = await h.register();
      await h.sql`update auth.accounts set role = ${role} where id = ${person.userId}`;
      const tokens = await h.login(person.email);
      t.equal(
        (await failure(h.client.createApiKey(request, h.bearer(tokens)))).reason,
        "PERMISSION_DENIED",
        `${role} may not create API keys`,
      );
    }
    const created = await h.client.createApiKey(request, admin.call);
    const events = await h.sql<
      { actor_id: string; action: string; outcome: string; after: { key_id: string } }[]
    >`
    select actor_id, action, outcome, after from auth.audit_events where action = 'api_key.create'`;
    t.equal(events.length, 1, "the key's creation is on the record");
    t.match(events[0], { actor_id: admin.userId, outcome: "done", after: { key_id: created.apiKey?.keyId } });
  },
);
