import { randomUUID } from "node:crypto";
import { Validator } from "@seriousme/openapi-schema-validator";
import t from "tap";
import { PASSWORD, startPlatform, uniqueEmail } from "./harness";

t.test("the edge over the real platform", async (t) => {
  const api = await startPlatform(t, { edge: { RATE_LIMIT_PER_MINUTE: "120" } });

  await t.test("register and read yourself: snake_case JSON, enums by name, int64 as strings", async (t) => {
    const person = await api.register();
    const me = await api.call("GET", "/v1/me", { token: person.accessToken });
    t.equal(me.status, 200);
    t.equal(me.body.profile.user_id, person.userId);
    const wallet = await api.call("GET", "/v1/me/wallet", { token: person.accessToken });
    t.equal(wallet.status, 200);
    t.equal(wallet.body.wallet.balance.amount_minor, "0", "int64 as a decimal string");
    const login = await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD },
    });
    t.equal(login.body.tokens.token_type, "Bearer");
    const role = await api.call("GET", "/v1/auth/sessions", { token: person.accessToken });
    t.equal(role.body.sessions.length, 2);
  });

  await t.test("errors: one envelope, grpc-gateway statuses, request ids", async (t) => {
    const anonymous = await api.call("GET", "/v1/me", { headers: { "x-request-id": "req-abc-123" } });
    t.equal(anonymous.status, 401);
    t.match(anonymous.body.error, {
      code: 401,
      status: "UNAUTHENTICATED",
      reason: "UNAUTHENTICATED",
      request_id: "req-abc-123",
    });
    t.equal(anonymous.headers.get("x-request-id"), "req-abc-123", "the request id comes back");
    const forged = await api.call("GET", "/v1/me", { token: "eyJhbGciOiJub25lIn0.e30." });
    t.equal(forged.status, 401);
    t.equal(forged.body.error.reason, "TOKEN_INVALID");

    const person = await api.register();
    const duplicate = await api.call("POST", "/v1/auth/register", {
      body: { email: person.email, password: PASSWORD },
    });
    t.equal(duplicate.status, 409);
    t.equal(duplicate.body.error.reason, "ACCOUNT_EXISTS");
    const weak = await api.call("POST", "/v1/auth/register", {
      body: { email: uniqueEmail(), password: "short" },
    });
    t.equal(weak.status, 400);
    t.same(weak.body.error.details.field_violations, [
      { field: "password", description: "must be at least 8 characters" },
    ]);
    const notAdmin = await api.call("POST", `/v1/users/${person.userId}/role`, {
      token: person.accessToken,
      body: { role: "ROLE_ADMIN" },
    });
    t.equal(notAdmin.status, 403);
    t.equal(notAdmin.body.error.status, "PERMISSION_DENIED");
    const missing = await api.call("GET", `/v1/experts/${randomUUID()}`);
    t.equal(missing.status, 404);
    t.equal(missing.body.error.reason, "EXPERT_NOT_FOUND");
    const noRoute = await api.call("GET", "/v1/nothing-here");
    t.equal(noRoute.status, 404);
    t.equal(noRoute.body.error.reason, "ROUTE_NOT_FOUND");
    const badJson = await api.call("POST", "/v1/auth/login", { body: "{not json" });
    t.equal(badJson.status, 400);
    t.ok(badJson.body.error.request_id);
    const badType = await api.call("GET", "/v1/experts?page_size=lots");
    t.equal(badType.status, 400);
    t.equal(badType.body.error.reason, "INVALID_BODY");
    const unknownParam = await api.call("GET", "/v1/experts?colour=blue");
    t.equal(unknownParam.status, 400);
    t.same(unknownParam.body.error.details.field_violations[0].field, "colour");
  });

  await t.test(
    "PATCH derives update_mask from the body; fields outside a person's rights are refused",
    async (t) => {
      const person = await api.register();
      const renamed = await api.call("PATCH", "/v1/me", {
        token: person.accessToken,
        body: { display_name: "Renamed" },
      });
      t.equal(renamed.status, 200);
      t.equal(renamed.body.profile.display_name, "Renamed");
      const sneaky = await api.call("PATCH", "/v1/me", {
        token: person.accessToken,
        body: { verified: true },
      });
      t.equal(sneaky.status, 403);
      t.equal(sneaky.body.error.reason, "FIELD_NOT_PERMITTED");
      const outside = await api.call("PATCH", "/v1/me?update_mask=bio", {
        token: person.accessToken,
        body: { display_name: "X", bio: "hi" },
      });
      t.equal(outside.status, 400);
      t.equal(outside.body.error.reason, "FIELD_OUTSIDE_MASK");
    },
  );

  await t.test("client-supplied identity metadata is not passed on", async (t) => {
    const person = await api.register();
    await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD, device_name: "spoofer" },
      headers: { "x-client-ip": "203.0.113.9", "x-forwarded-for": "203.0.113.9" },
    });
    const sessions = await api.call("GET", "/v1/auth/sessions", { token: person.accessToken });
    const spoofed = sessions.body.sessions.find((s: { device_name: string }) => s.device_name === "spoofer");
    t.equal(spoofed.ip_address, "127.0.0.1", "auth saw the edge's view of the client, not the header");
    const forgedKey = await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD },
      headers: { "x-api-key": "pk_forged" },
    });
    t.equal(forgedKey.status, 401, "a key that does not verify is refused, never treated as anonymous");
    t.equal(forgedKey.body.error.reason, "API_KEY_INVALID");
    // Header values may hold tabs and Latin-1 letters; gRPC metadata may not.
    const oddKey = await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD },
      headers: { "x-api-key": "pk_caf\u00e9" },
    });
    t.same([oddKey.status, oddKey.body.error?.reason], [401, "API_KEY_INVALID"], "a malformed key: 401");
    const emptyKey = await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD },
      headers: { "x-api-key": "" },
    });
    t.equal(emptyKey.status, 200, "an empty one is no key: anonymous, as the login is");
    const oddAgent = await api.call("POST", "/v1/auth/login", {
      body: { identifier: person.email, password: PASSWORD, device_name: "odd agent" },
      headers: { "user-agent": "caf\u00e9\tbrowser" },
    });
    t.equal(oddAgent.status, 200, "a user agent of other characters signs in, not a 500");
    const listed = await api.call("GET", "/v1/auth/sessions", { token: person.accessToken });
    t.equal(
      listed.body.sessions.find((s: { device_name: string }) => s.device_name === "odd agent")?.user_agent,
      "caf??browser",
      "passed on with the characters metadata cannot carry replaced",
    );
  });

  await t.test(
    "payment webhook: signed events credit once; bad or stale signatures credit nothing",
    async (t) => {
      const person = await api.register();
      const topUp = await api.call("POST", "/v1/me/topups", {
        token: person.accessToken,
        body: { amount: { amount_minor: "50000", currency: "INR" }, request_id: randomUUID() },
      });
      t.equal(topUp.status, 200);
      const payment = topUp.body.payment;
      t.equal(payment.status, "PAYMENT_STATUS_PENDING");
      const event = {
        event_id: `evt_${randomUUID()}`,
        payment_id: payment.payment_id,
        provider_payment_id: "pay_123",
        status: "succeeded",
        amount_minor: 50000,
        currency: "INR",
      };
      const badSignature = await api.webhook(event, { secret: "not-the-secret-at-all" });
      t.equal(badSignature.status, 400);
      t.equal(badSignature.body.error.reason, "SIGNATURE_INVALID");
      const stale = await api.webhook(event, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
      t.equal(stale.status, 400);
      t.equal(stale.body.error.reason, "SIGNATURE_STALE");
      const unsigned = await api.call("POST", "/v1/webhooks/payments/development", { body: event });
      t.equal(unsigned.status, 400);
      const empty = await fetch(`${api.url}/v1/webhooks/payments/development`, {
        method: "POST",
        headers: { "parley-signature": `t=${Math.floor(Date.now() / 1000)},v1=00` },
      });
      t.same(
        [empty.status, ((await empty.json()) as { error: { reason: string } }).error.reason],
        [400, "SIGNATURE_INVALID"],
        "no body at all: its signature checked like any, not a 500",
      );
      t.equal(
        (await api.call("GET", "/v1/me/wallet", { token: person.accessToken })).body.wallet.balance
          .amount_minor,
        "0",
        "nothing credited",
      );

      const first = await api.webhook(event);
      t.equal(first.status, 200);
      t.equal(first.body.credited, true);
      const replays = await Promise.all(Array.from({ length: 5 }, () => api.webhook(event)));
      t.ok(
        replays.every((r) => r.status === 200 && r.body.credited === false),
        "replays credit nothing",
      );
      const wallet = await api.call("GET", "/v1/me/wallet", { token: person.accessToken });
      t.equal(wallet.body.wallet.balance.amount_minor, "50000");
    },
  );

  await t.test("operations: healthz, readyz, metrics, JWKS, OpenAPI 3.1 and the docs page", async (t) => {
    t.equal((await api.call("GET", "/healthz")).status, 200);
    const ready = await api.call("GET", "/readyz");
    t.equal(ready.status, 200);
    t.same(ready.body.upstream, { auth: true, user: true, session: true, billing: true });
    const metrics = await api.call("GET", "/metrics");
    t.match(metrics.body, /http_server_request_duration_seconds_bucket/);
    const jwks = await api.call("GET", "/.well-known/jwks.json");
    t.ok(jwks.body.keys.length >= 1 && jwks.body.keys[0].kty === "EC");
    const openapi = await api.call("GET", "/openapi.json");
    t.equal(openapi.body.openapi, "3.1.0");
    t.ok(openapi.body.paths["/v1/sessions/{session_id}:accept"]?.post, "custom verbs are documented");
    t.ok(
      openapi.body.paths["/v1/experts"]?.get?.parameters.some(
        (p: { name: string }) => p.name === "specialisation",
      ),
    );
    const validation = await new Validator().validate(openapi.body);
    t.ok(validation.valid, JSON.stringify(validation.errors ?? []).slice(0, 500));
    const docs = await api.call("GET", "/docs/");
    t.equal(docs.status, 200);
    t.match(String(docs.body), /swagger/i);
  });

  await t.test("rate limit per principal: 429 with Retry-After in the same envelope", async (t) => {
    // Windows are fixed minutes: a run that straddles a window's end starts counting again, so
    // each loop may send twice the budget (one of at most two windows then sees more than 120).
    const attempts = 2 * 120 + 10;
    const person = await api.register();
    let limited: Awaited<ReturnType<typeof api.call>> | undefined;
    for (let i = 0; i < attempts && !limited; i++) {
      const response = await api.call("GET", "/v1/me", { token: person.accessToken });
      if (response.status === 429) limited = response;
    }
    t.ok(limited, "limited within the budget");
    t.equal(limited!.body.error.reason, "RATE_LIMITED");
    t.ok(Number(limited!.headers.get("retry-after")) > 0);
    const other = await api.register();
    t.equal(
      (await api.call("GET", "/v1/me", { token: other.accessToken })).status,
      200,
      "other principals are unaffected",
    );
    let keyed: Awaited<ReturnType<typeof api.call>> | undefined;
    for (let i = 0; i < attempts && !keyed; i++) {
      const response = await api.call("GET", "/v1/experts", {
        headers: { "x-api-key": `pk_${randomUUID()}` },
      });
      if (response.status === 429) keyed = response;
    }
    t.ok(keyed, "an invented API key per request buys no fresh allowance: unverified callers count per IP");
  });
});
