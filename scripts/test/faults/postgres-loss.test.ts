// Fault tier: the whole platform on a database of its own whose connections are terminated
// (pg_terminate_backend on every application connection, again and again) under load, and
// which then goes away (a proxy in front of it is cut) and comes back. No process exits; a
// call hit by a dropped connection answers 503 UNAVAILABLE (retryable, with ErrorInfo), and
// retried with its key it takes effect exactly once; /readyz and every service's gRPC health
// say the database is down while it is, and recover by themselves.
import { randomUUID } from "node:crypto";
import { createHealthChecker } from "@parley/kit/grpc";
import { launchTestPlatform, startTcpProxy, testServerUrl } from "@parley/testing";
import postgres from "postgres";
import t, { type Test } from "tap";
import { type Person, world } from "../world";

const LOAD_WORKERS = 6;
const TERMINATION_ROUNDS = 10;
/** The answers a call hit by the outage may give: retry the same request. */
const RETRYABLE = ["DATABASE_UNAVAILABLE", "AUDIT_UNAVAILABLE"];

interface LogEntry {
  level: number;
  msg: string;
  grpcCode?: string;
  reason?: string;
  err?: { type: string; errorCode?: string; cause?: { errorCode?: string }; message: string };
}
const parseLogLine = (line: string): LogEntry | undefined => {
  try {
    const entry = JSON.parse(line);
    return typeof entry?.level === "number" ? entry : undefined;
  } catch {
    return undefined;
  }
};

const until = async (t: Test, what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.pass(`${what} (${Date.now() - started} ms)`);
};

t.test("terminated connections under load, then a database that goes away and comes back", async (t) => {
  const server = new URL(testServerUrl());
  const proxy = await startTcpProxy(t, `${server.hostname}:${server.port || 5432}`);
  // What the services logged that a retryable outage does not explain (errors, and warnings
  // with another reason): an unexpected answer carries the last five logged since the last one.
  let unexplained: string[] = [];
  const { platform, secrets, databaseUrl } = await launchTestPlatform(
    t,
    { edge: { RATE_LIMIT_PER_MINUTE: "1000000" } },
    {
      databaseUrl: (url) => proxy.through(url),
      onLine: (service, line) => {
        const entry = parseLogLine(line);
        if (!entry || entry.level < 40 || (entry.level < 50 && RETRYABLE.includes(entry.reason ?? "")))
          return;
        const err = entry.err
          ? ` (${entry.err.type} ${entry.err.errorCode ?? entry.err.cause?.errorCode ?? ""} ${entry.err.message})`
          : "";
        unexplained = [
          ...unexplained.slice(-4),
          `${service}: ${entry.msg} ${entry.grpcCode ?? ""} ${entry.reason ?? ""}${err}`,
        ];
      },
    },
  );
  const w = world(t, platform, secrets);
  const database = new URL(databaseUrl).pathname.slice(1);
  const admin = postgres(testServerUrl(), { max: 1, onnotice: () => {} });
  t.teardown(() => admin.end({ timeout: 5 }));

  const expert = await w.expert();
  const payer = await w.register();
  const staff = await w.admin();
  await w.fund(payer.userId, 1_000_000);
  const sessionId = await w.chat(payer, expert);
  // Credits go to someone not in a paid chat: nothing but them moves that balance.
  const payee = await w.register();

  // Load: keyed writes retried until they land, and reads; every answer is a success or a
  // retryable 503 naming the database.
  const answers = new Map<number, number>();
  const unexpected: string[] = [];
  let retries = 0;
  /** Sends one request until it succeeds, the same body (and key) every time. */
  const untilDone = async (method: string, path: string, person: Person | string, body?: unknown) => {
    const token = typeof person === "string" ? person : person.token;
    for (let attempt = 0; attempt < 50; attempt++) {
      // Longer than the edge's own 10-s upstream deadline: a request held that long is answered
      // by the edge (its status and reason land in `unexpected`), not cut by this client.
      const response = await w.call(method, path, { token, body, timeoutMs: 15_000 });
      answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
      if (response.status === 200) return response.body;
      // A staff credit whose audit record (auth's database) was cut answers AUDIT_UNAVAILABLE:
      // the credit is kept, and the same request again records it without crediting twice.
      if (
        response.status !== 503 ||
        !RETRYABLE.includes(response.body.error?.reason) ||
        !response.headers.get("retry-after")
      ) {
        unexpected.push(
          `${method} ${path}: ${response.status} ${JSON.stringify(response.body)}; logged: ${JSON.stringify(unexplained)}`,
        );
        unexplained = [];
      }
      retries += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${method} ${path} never succeeded`);
  };
  const granted: number[] = [];
  const sent: string[] = [];
  let loading = true;
  const worker = async (index: number) => {
    for (let round = 0; loading; round++) {
      const amount = 100 + index;
      await untilDone("POST", `/v1/wallets/${payee.userId}:grantCredit`, staff, {
        amount: { amount_minor: String(amount), currency: "INR" },
        request_id: randomUUID(),
      });
      granted.push(amount);
      const clientMsgId = `w${index}-${round}`;
      await untilDone("POST", `/v1/sessions/${sessionId}/messages`, payer, {
        kind: "MESSAGE_KIND_TEXT",
        text: `message ${clientMsgId}`,
        client_msg_id: clientMsgId,
      });
      sent.push(clientMsgId);
      await untilDone("GET", "/v1/me", payer);
      await untilDone("GET", "/v1/me/wallet", payer);
      await untilDone("GET", `/v1/experts/${expert.userId}`, payer);
    }
  };
  const load = Array.from({ length: LOAD_WORKERS }, (_, i) => worker(i));
  let terminated = 0;
  for (let round = 0; round < TERMINATION_ROUNDS; round++) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const killed = await admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${database} and pid <> pg_backend_pid()`;
    terminated += killed.length;
  }
  loading = false;
  await Promise.all(load);

  t.ok(terminated > 0, `${terminated} application connections terminated in ${TERMINATION_ROUNDS} rounds`);
  t.same(
    unexpected,
    [],
    "every failed call was a retryable 503 (DATABASE_UNAVAILABLE or AUDIT_UNAVAILABLE) with Retry-After",
  );
  t.ok(retries > 0, `calls hit by a dropped connection were retried (${retries} retries)`);
  t.comment(`answers: ${JSON.stringify(Object.fromEntries(answers))}`);
  for (const [name, service] of Object.entries(platform.services))
    t.equal(service.process.exitCode, null, `${name} is still running`);

  const wallet = await w.ok("GET", "/v1/me/wallet", { token: payee.token });
  const expected = granted.reduce((sum, amount) => sum + BigInt(amount), 0n);
  t.equal(wallet.wallet.balance.amount_minor, expected.toString(), "every keyed credit landed exactly once");
  const messages: string[] = [];
  for (let pageToken = ""; ; ) {
    const page = await w.ok(
      "GET",
      `/v1/sessions/${sessionId}/messages?page_size=200${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ""}`,
      { token: payer.token },
    );
    messages.push(...(page.messages ?? []).map((m: { client_msg_id: string }) => m.client_msg_id));
    if (!page.next_page_token) break;
    pageToken = page.next_page_token;
  }
  t.same(messages.toSorted(), sent.toSorted(), "every keyed message stored exactly once");

  // The database goes away: readiness and health say so, calls fail fast, both recover alone.
  const health = Object.values(platform.grpc).map((address) => createHealthChecker(address));
  t.teardown(() => {
    for (const checker of health) checker.close();
  });
  const everyService = async (status: string) =>
    (await Promise.all(health.map((checker) => checker.check("")))).every((s) => s === status);
  await proxy.cut();
  await until(t, "/readyz answers 503 while the database is unreachable", async () => {
    const ready = await w.call("GET", "/readyz");
    return ready.status === 503;
  });
  await until(t, "every service's gRPC health says NOT_SERVING", () => everyService("NOT_SERVING"));
  const started = Date.now();
  const down = await w.call("GET", "/v1/me/wallet", { token: payer.token, timeoutMs: 10_000 });
  t.equal(down.status, 503, "a call answers 503");
  t.equal(down.body.error?.reason, "DATABASE_UNAVAILABLE");
  t.ok(Date.now() - started < 6_000, `without waiting long (${Date.now() - started} ms)`);

  await proxy.restore();
  await until(t, "/readyz answers 200 again once the database is back", async () => {
    const ready = await w.call("GET", "/readyz");
    return ready.status === 200;
  });
  await until(t, "every service's gRPC health says SERVING again", () => everyService("SERVING"));
  await untilDone("GET", "/v1/me/wallet", payer);
  for (const [name, service] of Object.entries(platform.services))
    t.equal(service.process.exitCode, null, `${name} is still running`);
});
