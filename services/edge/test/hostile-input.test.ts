import { randomUUID } from "node:crypto";
import t from "tap";
import { CLOSE, MAX_SUBSCRIPTIONS } from "../src/ws/socket";
import { startLoneEdge } from "./alone";
import { WsClient } from "./ws-client";

// Input the edge refuses itself, before any service sees it (its upstreams are unreachable
// here: anything that got through would be a 503, not the 400 or close code asserted).
t.test("hostile input is refused at the edge", async (t) => {
  const { url, issuer, logs } = await startLoneEdge(t, {
    WS_MAX_FRAME_BYTES: "4096",
    WS_MAX_CONNECTIONS_PER_PERSON: "5",
    WS_MAX_UNAUTHENTICATED_PER_IP: "3",
  });
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(url + path, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
    return { status: response.status, body: (await response.json()) as any };
  };

  await t.test("query parameters parse strictly: only true and false are booleans", async (t) => {
    const token = await issuer.userToken();
    for (const value of ["maybe", "yes", "1", "", "TRUE"]) {
      const response = await call("GET", `/v1/sessions?as_expert=${value}`, undefined, token);
      t.equal(response.status, 400, `as_expert=${value} is refused`);
      t.equal(response.body.error.reason, "INVALID_BODY");
      t.same(response.body.error.details.field_violations, [
        { field: "as_expert", description: "must be boolean" },
      ]);
    }
    for (const value of ["true", "false"])
      t.equal(
        (await call("GET", `/v1/sessions?as_expert=${value}`, undefined, token)).status,
        503,
        `as_expert=${value} passes the edge (to an unreachable service)`,
      );
    const twice = await call("GET", "/v1/experts?page_size=1&page_size=2");
    t.equal(twice.status, 400, "a scalar given twice is refused, not resolved by order");
    t.equal(twice.body.error.details.field_violations[0].field, "page_size");
  });

  await t.test("text with NUL or other control characters is refused, naming the field", async (t) => {
    const login = await call("POST", "/v1/auth/login", {
      identifier: "a\u0000b@x.io",
      password: "whatever-123",
    });
    t.equal(login.status, 400);
    t.match(login.body.error, { status: "INVALID_ARGUMENT", reason: "INVALID_BODY" });
    t.same(login.body.error.details.field_violations, [
      { field: "identifier", description: "must not contain control characters" },
    ]);
    for (const [body, field] of [
      [{ email: "a@x.io", password: "pass\u0007word-123" }, "password"],
      [{ email: "a@x.io", password: "long enough pw", display_name: "Asha\u001b[31m" }, "display_name"],
    ] as const) {
      const register = await call("POST", "/v1/auth/register", body);
      t.equal(register.status, 400);
      t.equal(register.body.error.details.field_violations[0].field, field);
    }
    const reset = await call("POST", "/v1/auth/password:requestReset", { identifier: "x\u007f@x.io" });
    t.equal(reset.status, 400, "DEL is refused too");
    const query = await call("GET", "/v1/experts?specialisation=ved%00ic");
    t.equal(query.status, 400);
    t.equal(query.body.error.details.field_violations[0].field, "specialisation");
    const path = await call("GET", "/v1/experts/abc%00def");
    t.equal(path.status, 400);
    t.equal(path.body.error.details.field_violations[0].field, "expert_id");
    const token = await issuer.userToken();
    const text = await call(
      "POST",
      `/v1/sessions/${randomUUID()}/messages`,
      { kind: "MESSAGE_KIND_TEXT", text: "line one\nline two\ttabbed\r\n", client_msg_id: "c1" },
      token,
    );
    t.equal(text.status, 503, "tabs and line breaks are text: passed on");
  });

  await t.test("a bad enum, a bad type and an unknown field are each named", async (t) => {
    const token = await issuer.userToken();
    const kind = await call(
      "POST",
      "/v1/sessions",
      { expert_id: randomUUID(), kind: "SESSION_KIND_UNSPECIFIED", request_id: "r1" },
      token,
    );
    t.equal(kind.status, 400);
    t.equal(kind.body.error.details.field_violations[0].field, "kind", "not 'body'");
    const nested = await call(
      "POST",
      "/v1/me/topups",
      { amount: { amount_minor: "12.5", currency: "INR" }, request_id: "r2" },
      token,
    );
    t.equal(nested.body.error.details.field_violations[0].field, "amount.amount_minor");
    const extra = await call("POST", "/v1/auth/login", {
      identifier: "a@x.io",
      password: "p",
      colour: "blue",
    });
    t.equal(extra.body.error.details.field_violations[0].field, "colour");
    const missing = await call("POST", "/v1/auth/login", { identifier: "a@x.io" });
    t.same(missing.body.error.details.field_violations, [{ field: "password", description: "is required" }]);
    const profile = await call("PATCH", "/v1/me", { display_name: 7 }, token);
    t.equal(
      profile.body.error.details.field_violations[0].field,
      "profile.display_name",
      "under the body field",
    );
  });

  await t.test("an anonymous call to an RPC that needs a caller is 401 at once", async (t) => {
    const response = await call("POST", "/v1/sessions", { kind: "not even valid" });
    t.equal(response.status, 401, "before its body is judged");
    t.equal(response.body.error.reason, "UNAUTHENTICATED");
  });

  await t.test(
    "a fragmented WebSocket message over the limit closes with 1009, logged as the client's",
    async (t) => {
      const token = await issuer.userToken();
      const whole = await WsClient.connect(url);
      await whole.authenticate(token);
      whole.send({ type: "ping", id: "x".repeat(5000) });
      t.equal((await whole.closed).code, CLOSE.tooBig, "unfragmented: 1009");
      const fragmented = await WsClient.connect(url);
      await fragmented.authenticate(token);
      const errorsBefore = logs.filter((l) => l.level >= 50).length;
      fragmented.sendFragments(['{"type":"ping","id":"', "y".repeat(3000), `${"z".repeat(3000)}"}`]);
      t.equal((await fragmented.closed).code, CLOSE.tooBig, "fragmented: 1009 as well");
      t.equal(logs.filter((l) => l.level >= 50).length, errorsBefore, "no error-level log line");
      t.ok(logs.some((l) => l.msg === "websocket client broke the protocol"));
    },
  );

  await t.test("WebSocket connections are capped per person and, unauthenticated, per address", async (t) => {
    const userId = randomUUID();
    const token = await issuer.userToken({ userId });
    const open: WsClient[] = [];
    for (let i = 0; i < 5; i++) {
      const ws = await WsClient.connect(url);
      await ws.authenticate(token);
      open.push(ws);
    }
    const sixth = await WsClient.connect(url);
    sixth.send({ type: "auth", token });
    t.same(await sixth.closed, { code: CLOSE.tooManyConnections, reason: "too many connections" });
    const otherPerson = await WsClient.connect(url);
    await otherPerson.authenticate(await issuer.userToken());
    t.pass("another person is unaffected");
    open[0]!.close();
    await open[0]!.closed;
    const again = await WsClient.connect(url);
    await again.authenticate(token);
    t.pass("a closed connection frees its place");

    const waiting = [await WsClient.connect(url), await WsClient.connect(url), await WsClient.connect(url)];
    const fourth = await WsClient.connect(url);
    t.same(await fourth.closed, {
      code: CLOSE.tooManyConnections,
      reason: "too many unauthenticated connections",
    });
    await waiting[0]!.authenticate(await issuer.userToken());
    const afterAuth = await WsClient.connect(url);
    afterAuth.send({ type: "ping", id: 1 });
    t.equal((await afterAuth.waitFor((f) => f.type === "pong")).id, 1, "authenticating frees a place");
    const all = [...open.slice(1), otherPerson, again, ...waiting, afterAuth];
    for (const ws of all) ws.close();
    await Promise.all(all.map((ws) => ws.closed));
  });

  await t.test("every error frame carries the request id of the frame it answers", async (t) => {
    const ws = await WsClient.connect(url);
    await ws.authenticate(await issuer.userToken());
    ws.send({ type: "subscribe", id: 7, after_seq: "0" });
    const invalid = await ws.waitFor((f) => f.type === "error" && f.id === 7);
    t.match(invalid.error, { reason: "INVALID_FRAME", request_id: /^[0-9a-f-]{36}$/ });
    t.same(invalid.error.details.field_violations, [
      { field: "session_id", description: "session_id is required" },
    ]);
    for (const after_seq of ["9999999999999999999", 1e21]) {
      ws.send({ type: "subscribe", id: "far", session_id: randomUUID(), after_seq });
      const far = await ws.waitFor((f) => f.type === "error" && f.id === "far");
      t.equal(far.error.reason, "INVALID_FRAME", `after_seq ${after_seq}: beyond any seq, refused`);
      ws.frames.length = 0;
    }
    ws.send({
      type: "send_message",
      id: "m1",
      session_id: randomUUID(),
      kind: "MESSAGE_KIND_BOGUS",
      client_msg_id: "c",
    });
    const badKind = await ws.waitFor((f) => f.type === "error" && f.id === "m1");
    t.equal(badKind.error.details.field_violations[0].field, "kind");
    ws.send({ type: "subscribe", id: 8, session_id: randomUUID() });
    const failed = await ws.waitFor((f) => f.type === "error" && f.id === 8);
    t.equal(failed.error.status, "UNAVAILABLE");
    t.ok(
      failed.error.request_id && failed.error.request_id !== invalid.error.request_id,
      "its own request id",
    );
    t.notOk(
      ws.frames.some((f) => f.type === "subscribed"),
      "no subscription acknowledged without authorisation",
    );
    ws.send("{not json");
    t.ok(
      (
        await ws.waitFor(
          (f) =>
            f.type === "error" &&
            f.error.reason === "INVALID_FRAME" &&
            f.id === undefined &&
            /JSON/.test(f.error.message),
        )
      ).error.request_id,
    );
    ws.close();
  });
});

t.test("a WebSocket's presence heartbeats and subscriptions are bounded", async (t) => {
  const { url, issuer, logs } = await startLoneEdge(t, { WS_FRAMES_PER_SECOND: "100" });
  const ws = await WsClient.connect(url);
  await ws.authenticate(await issuer.userToken());
  // Its upstreams are unreachable here: each report upstream is a logged failure, the sign-in's
  // first.
  const reports = () => logs.filter((l) => l.msg === "presence report failed").length;
  const reported = async (count: number) => {
    for (let i = 0; i < 100 && reports() < count; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
  };
  await reported(1);
  const before = reports();
  for (let i = 0; i < 20; i++) ws.send({ type: "presence" });
  await reported(before + 1);
  ws.send({ type: "ping", id: "after" });
  await ws.waitFor((f) => f.type === "pong" && f.id === "after");
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(reports() - before, 1, "20 heartbeats in a row are reported upstream once");

  // Each subscription is held while it is authorised: the 51st at once is refused.
  for (let i = 0; i <= MAX_SUBSCRIPTIONS; i++)
    ws.send({ type: "subscribe", id: i, session_id: randomUUID() });
  const refused = await ws.waitFor((f) => f.type === "error" && f.id === MAX_SUBSCRIPTIONS);
  t.equal(refused.error.reason, "TOO_MANY_SUBSCRIPTIONS");
  t.equal(refused.error.status, "RESOURCE_EXHAUSTED");
  ws.close();
});

t.test("the key set is asked of auth once a minute, however often it is fetched", async (t) => {
  const { url, jwksAsked } = await startLoneEdge(t);
  const bodies = await Promise.all(
    Array.from({ length: 20 }, async () => (await fetch(`${url}/.well-known/jwks.json`)).json()),
  );
  t.equal(jwksAsked(), 1, "20 fetches, one question to auth");
  t.ok(
    bodies.every((body) => JSON.stringify(body) === JSON.stringify(bodies[0])),
    "each the same keys",
  );
});
