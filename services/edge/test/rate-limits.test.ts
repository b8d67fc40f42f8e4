import { randomUUID } from "node:crypto";
import { connectRedis } from "@parley/kit/redis";
import { redisServerMissing, startThrowawayRedis } from "@parley/testing";
import t from "tap";
import { startLoneEdge } from "./alone";
import { WsClient } from "./ws-client";

// Rate limits live on the request path, so they must cost no network round trip per request
// and must not fail when Redis does. Two edges share a throwaway redis-server (never the
// machine's), which is then killed. Their upstreams are unreachable: a request that passes
// the limit is a fast 503, one that does not is a 429.
t.test(
  "rate limits: counted locally, shared through Redis in batches, still on when Redis dies",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `edge-test-${randomUUID()}:`,
      RATE_LIMIT_PER_MINUTE: "50",
      RATE_LIMIT_SYNC_MS: "500",
    };
    const a = await startLoneEdge(t, env);
    const b = await startLoneEdge(t, env);
    const probe = connectRedis(redis.url, { name: "probe" });
    t.teardown(() => probe.disconnect());
    const commandsServed = async () => {
      const stats = (await probe.info("commandstats")) as string;
      return [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]
        .filter(([, name]) => name !== "info")
        .reduce((sum, [, , calls]) => sum + Number(calls), 0);
    };
    const get = async (url: string, path: string, token?: string) => {
      const started = performance.now();
      const response = await fetch(
        url + path,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
      await response.arrayBuffer();
      return {
        status: response.status,
        ms: performance.now() - started,
        retryAfter: response.headers.get("retry-after"),
      };
    };
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Counters are per fixed minute (every instance names the same window): the counting below
    // (~3 s) must not straddle a minute's end, where every count starts again from zero.
    const leftOfMinute = 60_000 - (Date.now() % 60_000);
    if (leftOfMinute < 10_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));

    const before = await commandsServed();
    const started = performance.now();
    for (let i = 0; i < 40; i++)
      t.equal((await get(a.url, "/v1/experts")).status, 503, `request ${i + 1} passes the limit`);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const syncs = Math.ceil((performance.now() - started) / 500) + 1;
    const spent = (await commandsServed()) - before;
    t.ok(spent > 0, `the counts reached Redis (${spent} commands)`);
    // One INCRBY and one PEXPIRE per counter per sync, however many requests.
    t.ok(spent <= 2 * syncs && spent < 40, `40 requests cost ${spent} Redis commands (${syncs} syncs)`);

    // The other edge learns the shared count at its first sync of this key (its 5 go up, 45
    // come back), then refuses past 50.
    for (let i = 0; i < 5; i++) t.equal((await get(b.url, "/v1/experts")).status, 503);
    await new Promise((resolve) => setTimeout(resolve, 700));
    let refusedAfter = 0;
    for (let i = 1; i <= 20 && !refusedAfter; i++)
      if ((await get(b.url, "/v1/experts")).status === 429) refusedAfter = i;
    t.equal(refusedAfter, 6, "the other edge counted the first one's requests: the 51st is refused");

    await redis.kill();
    const token = await a.issuer.userToken();
    const results = [];
    for (let i = 0; i < 55; i++) results.push(await get(a.url, "/v1/experts", token));
    const slowest = Math.max(...results.map((r) => r.ms));
    t.ok(
      slowest < 250,
      `with Redis dead every request is answered at once (slowest ${slowest.toFixed(0)} ms)`,
    );
    t.same(
      results.map((r) => r.status),
      [...Array(50).fill(503), ...Array(5).fill(429)],
      "and the limit still holds, counted on this instance",
    );
    t.ok(Number(results[54]!.retryAfter) > 0, "429 says when to retry");
  },
);

t.test("anonymous callers are counted by address, an IPv6 one by its /64", async (t) => {
  const { url } = await startLoneEdge(t, { RATE_LIMIT_PER_MINUTE: "3", TRUST_PROXY: "1" });
  const from = async (address: string) =>
    (await fetch(`${url}/v1/experts`, { headers: { "x-forwarded-for": address } })).status;
  // Counters are per fixed minute: the counting below must not straddle a minute's end.
  const leftOfMinute = 60_000 - (Date.now() % 60_000);
  if (leftOfMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
  const statuses = [];
  for (let host = 1; host <= 4; host++) statuses.push(await from(`2001:db8:7:7::${host.toString(16)}`));
  t.same(statuses, [503, 503, 503, 429], "a new address from the same /64 buys no new allowance");
  t.equal(await from("2001:db8:7:8::1"), 503, "the next /64 has its own");
});

t.test("webhook routes have their own counters, set by RATE_LIMIT_ROUTES", async (t) => {
  const edge = await startLoneEdge(t, {
    RATE_LIMIT_PER_MINUTE: "3",
    RATE_LIMIT_ROUTES: "POST /v1/webhooks/{provider}=2",
  });
  const leftOfMinute = 60_000 - (Date.now() % 60_000);
  if (leftOfMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
  const status = async (method: string, path: string) => {
    const response = await fetch(edge.url + path, {
      method,
      ...(method === "POST" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}),
    });
    await response.arrayBuffer();
    return response.status;
  };
  const webhooks = [];
  for (let i = 0; i < 3; i++) webhooks.push(await status("POST", "/v1/webhooks/stripe"));
  t.same(webhooks, [503, 503, 429], "the route's own two a minute (billing is unreachable here)");
  t.equal(
    await status("GET", "/openapi.json"),
    200,
    "and the default counter (routes without settings of their own) is untouched by them",
  );
});

t.test("a GET's HEAD counts against the GET's limit: it makes the same upstream call", async (t) => {
  const edge = await startLoneEdge(t, { RATE_LIMIT_ROUTES: "GET /v1/experts=4" });
  const leftOfMinute = 60_000 - (Date.now() % 60_000);
  if (leftOfMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
  const statuses: number[] = [];
  for (const method of ["GET", "HEAD", "GET", "HEAD", "HEAD", "GET"]) {
    const response = await fetch(`${edge.url}/v1/experts`, { method });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  t.same(statuses, [503, 503, 503, 503, 429, 429], "four of either, then neither");
});

t.test(
  "subscribe frames count as GetSession calls: a subscribe loop cannot replay histories unbounded",
  async (t) => {
    const edge = await startLoneEdge(t, { RATE_LIMIT_ROUTES: "GET /v1/sessions/{session_id}=3" });
    const leftOfMinute = 60_000 - (Date.now() % 60_000);
    if (leftOfMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
    const token = await edge.userToken();
    const ws = await WsClient.connect(edge.url);
    t.teardown(() => ws.close());
    await ws.authenticate(token);
    const answers: string[] = [];
    for (let i = 1; i <= 4; i++) {
      ws.send({ type: "subscribe", id: i, session_id: randomUUID(), after_seq: "0" });
      answers.push((await ws.waitFor((f) => f.type === "error" && f.id === i)).error.reason);
    }
    t.not(answers[0], "RATE_LIMITED", "the first three reach for the session (unreachable here)");
    t.same(
      answers.slice(1),
      [answers[0], answers[0], "RATE_LIMITED"],
      "the fourth is over GetSession's 3 a minute",
    );
    const response = await fetch(`${edge.url}/v1/sessions/${randomUUID()}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    t.equal(response.status, 429, "and so is the same person's GET of a session");
  },
);

t.test(
  "chat frames over a WebSocket count against their HTTP route's limit, for the same person",
  async (t) => {
    const edge = await startLoneEdge(t, { RATE_LIMIT_ROUTES: "POST /v1/sessions/{session_id}/messages=4" });
    // The counting below must not straddle a minute's end, where every count starts again.
    const leftOfMinute = 60_000 - (Date.now() % 60_000);
    if (leftOfMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
    const token = await edge.userToken();
    const sessionId = randomUUID();
    const message = (i: number) => ({
      kind: "MESSAGE_KIND_TEXT",
      text: `hello ${i}`,
      client_msg_id: `m${i}`,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${edge.url}/v1/sessions/${sessionId}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(message(i)),
      });
      await response.arrayBuffer();
      statuses.push(response.status);
    }
    t.same(statuses, [503, 503], "two over HTTP pass the limit (the service is unreachable)");
    const ws = await WsClient.connect(edge.url);
    t.teardown(() => ws.close());
    await ws.authenticate(token);
    const answers: string[] = [];
    for (let i = 2; i < 5; i++) {
      ws.send({ type: "send_message", id: i, session_id: sessionId, ...message(i) });
      const answer = await ws.waitFor((f) => f.type === "error" && f.id === i);
      answers.push(answer.error.reason ?? answer.error.status);
    }
    t.equal(answers[0], answers[1], "the third and fourth pass it, over the socket");
    t.not(answers[0], "RATE_LIMITED");
    t.equal(answers[2], "RATE_LIMITED", "the fifth, by either way, is over the route's 4 a minute");
    const over = ws.frames.find((f) => f.type === "error" && f.id === 4);
    t.match(over.error, { code: 429, status: "RESOURCE_EXHAUSTED" }, "the same answer as over HTTP");
    t.ok(
      over.retry_after_seconds >= 1 && over.retry_after_seconds <= 60,
      "with when to send it again, as Retry-After says over HTTP",
    );
  },
);
