// Fault tier: the whole platform on a throwaway redis-server that is killed mid-run. Redis
// carries live fan-out and shared counters only, so with it gone sign-in, registration,
// service tokens, presence, a paid chat and shutdown keep working, and no request waits on it.
import { randomUUID } from "node:crypto";
import { launchTestPlatform, redisServerMissing, startThrowawayRedis } from "@parley/testing";
import t from "tap";
import { PASSWORD, world } from "../world";

/** The longest any one request may take with Redis dead (argon2 logins included, on a busy box). */
const BOUND_MS = 3_000;

t.test(
  "Redis killed: login, register, service tokens, presence, a paid chat and shutdown carry on",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const { platform, secrets } = await launchTestPlatform(t, {}, { redisUrl: redis.url });
    const w = world(t, platform, secrets);

    // Traffic while Redis is up.
    const expert = await w.expert();
    const before = await w.register();
    await w.fund(before.userId, 50_000);
    const first = await w.chat(before, expert);
    await w.say(before, first, "before the outage");

    await redis.kill();

    /** One request, timed: it must answer `expected` within the bound. */
    const bounded = async (what: string, work: () => Promise<{ status: number }>, expected = 200) => {
      const started = Date.now();
      const { status } = await work();
      const ms = Date.now() - started;
      t.equal(status, expected, `${what}: ${status}`);
      t.ok(ms < BOUND_MS, `${what} within ${BOUND_MS} ms (${ms} ms)`);
    };
    const call = (method: string, path: string, options: Parameters<typeof w.call>[2] = {}) =>
      w.call(method, path, { timeoutMs: 10_000, ...options });

    await bounded("login", () =>
      call("POST", "/v1/auth/login", { body: { identifier: before.email, password: PASSWORD } }),
    );
    const email = `after-${randomUUID()}@example.com`;
    await bounded("register", () =>
      call("POST", "/v1/auth/register", { body: { email, password: PASSWORD, display_name: "After" } }),
    );

    // Brute force is still counted, per account: the victim locks, everyone else signs in.
    const victim = await w.register();
    const guesses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const guess = await call("POST", "/v1/auth/login", {
        body: { identifier: victim.email, password: `wrong guess ${i}` },
      });
      guesses.push(guess.status);
    }
    t.same(guesses, [401, 401, 401, 401, 401, 429], "the account under attack locks after 5 guesses");
    await bounded(
      "the attacked account, right password",
      async () => call("POST", "/v1/auth/login", { body: { identifier: victim.email, password: PASSWORD } }),
      429,
    );
    await bounded("someone else signs in", () =>
      call("POST", "/v1/auth/login", { body: { identifier: before.email, password: PASSWORD } }),
    );

    // Service tokens: every service keeps getting its own (each renews it every few minutes).
    for (const service of ["session", "edge"] as const) {
      const started = Date.now();
      const { accessToken } = await w.serviceToken(service);
      t.ok(accessToken, `IssueServiceToken for ${service} (${Date.now() - started} ms)`);
      t.ok(Date.now() - started < BOUND_MS);
    }

    // Presence (the edge reports it) and a new paid chat, start to finish.
    const reported = Date.now();
    await w.online(expert.userId);
    t.ok(Date.now() - reported < BOUND_MS, "a presence report answers");
    const listed = await call("GET", `/v1/experts/${expert.userId}`, { token: before.token });
    t.equal(listed.body.expert?.availability, "EXPERT_AVAILABILITY_AVAILABLE", "the expert reads as online");
    const after = await w.register();
    await w.fund(after.userId, 50_000);
    let sessionId = "";
    await bounded("request a session", async () => {
      const response = await call("POST", "/v1/sessions", {
        token: after.token,
        body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
      });
      sessionId = response.body.session?.session_id ?? "";
      return response;
    });
    await bounded("accept it", () =>
      call("POST", `/v1/sessions/${sessionId}:accept`, { token: expert.token, body: {} }),
    );
    await bounded("chat", () =>
      call("POST", `/v1/sessions/${sessionId}/messages`, {
        token: after.token,
        body: { kind: "MESSAGE_KIND_TEXT", text: "during the outage", client_msg_id: randomUUID() },
      }),
    );
    const messages = await call("GET", `/v1/sessions/${sessionId}/messages`, { token: expert.token });
    t.same(
      messages.body.messages?.map((m: { text: string }) => m.text),
      ["during the outage"],
      "the expert reads it",
    );
    await bounded("the chat from before goes on", () =>
      call("POST", `/v1/sessions/${first}/messages`, {
        token: expert.token,
        body: { kind: "MESSAGE_KIND_TEXT", text: "still here", client_msg_id: randomUUID() },
      }),
    );

    // Shutdown: every service drains and exits 0 within its 10 s grace, Redis or not.
    for (const name of ["edge", "session", "auth", "billing", "user"] as const) {
      const service = platform.services[name];
      const started = Date.now();
      await service.stop();
      const ms = Date.now() - started;
      t.equal(service.process.exitCode, 0, `${name} exits cleanly`);
      t.ok(ms < 12_000, `${name} stops within its grace (${ms} ms)`);
    }
  },
);
