// `pnpm bench:edge`: what the edge costs, side by side in one run on this machine.
//
// Every measured server is its own process: the platform (auth, user, billing, session and the
// edge with Redis, as in production), a second edge without Redis, a bare Fastify server
// answering the same JSON, a bare `ws` broadcast server. One load generator (bench/load.ts,
// also its own process) drives every path — HTTP through the edge, HTTP to bare Fastify, gRPC
// straight to the service — with the same scheduler and clock. CPU per request comes from
// each process's /proc/<pid>/stat over the measured seconds.
//
// Runs: closed loop (BENCH_CONNECTIONS callers back to back) and fixed rate (BENCH_RATE per
// second, open loop: latency counted from when each request was due) for GET /v1/me/wallet
// with a token; closed loop for anonymous GET /v1/experts; fan-out (BENCH_WATCHERS sockets
// watching one session, BENCH_MESSAGES (600) chat messages; last-watcher latency per message)
// against the bare ws broadcast, driven the same way; idle authenticated sockets (RSS per
// socket) against bare ws; a login burst (wallet p99 at a fixed rate, quiet and while 8 logins
// run, in BENCH_LOGIN_ROUNDS (10) pairs of alternating BENCH_LOGIN_WINDOW_SECONDS (4) windows of
// one continuous wallet load, after BENCH_LOGIN_WARMUP_ROUNDS (3) pairs not counted, the first
// BENCH_LOGIN_SETTLE_SECONDS (1) of each window not counted). Ends with one JSON line.
// The edge and its baseline run one after the other, and this machine's other load drifts over
// seconds: the closed loop for GET /v1/me/wallet (edge with Redis, bare Fastify) and the fan-out
// (BENCH_MESSAGES / BENCH_ROUNDS messages each, after BENCH_FANOUT_WARMUP (20) not measured) run
// in BENCH_ROUNDS (3) rounds that alternate which side goes first. CPU and throughput ratios are
// the median of the rounds' ratios; fan-out latencies pool every round's messages.
// BENCH_ONLY=fanout,idle runs some sections (the others' figures are null). The services run as
// production runs them: the bundles of `pnpm build` (which `pnpm bench:edge` runs first) under
// plain node, not TypeScript through tsx (whose transform names every closure it makes).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import {
  createBenchDatabase,
  generateSecrets,
  killChildrenOnSignals,
  killWithThisProcess,
  launchPlatform,
  launchService,
  percentile,
  serviceCommand,
} from "@parley/testing";
import { loadCatalogue } from "../src/http/catalogue";
import { encodeJson } from "../src/http/transcode";
import { signPayload } from "../src/webhooks/payments";
import { runLoad } from "./run-load";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 600);
const FANOUT_WARMUP = Number(process.env.BENCH_FANOUT_WARMUP ?? 20);
/** Rounds of the edge-against-bare comparisons (closed loop, fan-out), alternating sides. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_SOCKETS = Number(process.env.BENCH_IDLE_SOCKETS ?? 2000);
const LOGIN_ROUNDS = Number(process.env.BENCH_LOGIN_ROUNDS ?? 10);
const LOGIN_WARMUP_ROUNDS = Number(process.env.BENCH_LOGIN_WARMUP_ROUNDS ?? 3);
const LOGIN_WINDOW_SECONDS = Number(process.env.BENCH_LOGIN_WINDOW_SECONDS ?? 4);
const LOGIN_SETTLE_SECONDS = Number(process.env.BENCH_LOGIN_SETTLE_SECONDS ?? 1);
/** Sections to run (comma-separated: requests, fanout, idle, login); all by default. */
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const runs = (section: string) => !ONLY || ONLY.includes(section);
const BENCH_DIR = import.meta.dirname;
const CLOCK_TICKS = 100;

// biome-ignore lint/suspicious/noExplicitAny: JSON lines from the load generator
type Line = any;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** user + system CPU seconds of a process so far, and its resident memory in KiB. */
function usage(pid: number): { cpu: number; rssKib: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { cpu, rssKib: Number(rss) };
}

/** Starts a TypeScript file of this folder as a process; resolves with it and its first JSON line. */
async function start(file: string, args: string[]): Promise<{ child: ChildProcess; first: Line }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, file), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  killWithThisProcess(child);
  const first = await new Promise<Line>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line)));
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { child, first };
}

/** Runs one load job; `measuring` marks where the measured part starts (after warm-up). */
async function load(job: unknown, pids: number[], onLine?: (line: Line) => void) {
  let before = pids.map(usage);
  let startedAt = performance.now();
  let result: Line;
  for await (const line of runLoad(job)) {
    if (line.event === "measuring") {
      before = pids.map(usage);
      startedAt = performance.now();
    } else if (line.event === "result") result = line;
    onLine?.(line);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const after = pids.map(usage);
  const cpu = after.map((a, i) => a.cpu - before[i]!.cpu);
  return { ...result, seconds, cpu };
}

killChildrenOnSignals();
const database = await createBenchDatabase();
const secrets = generateSecrets();
let redisChild: ChildProcess | undefined;
let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  redisChild = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  killWithThisProcess(redisChild);
  await new Promise((resolve) => setTimeout(resolve, 500));
  redisUrl = `redis://127.0.0.1:${port}`;
}
const edgeEnv = {
  RATE_LIMIT_PER_MINUTE: "1000000000",
  WS_MAX_CONNECTIONS_PER_PERSON: "100000",
  WS_MAX_UNAUTHENTICATED_PER_IP: "100000",
};
const platform = await launchPlatform({
  databaseUrl: database.url,
  redisUrl,
  redisKeyPrefix: `parley-bench-${randomUUID()}:`,
  secrets,
  // Eight logins at once of one account: without a higher per-account limit some of them are
  // refused (TOO_MANY_ATTEMPTS) before their hash and the burst is not eight logins.
  env: {
    edge: edgeEnv,
    auth: { LOGIN_IP_ATTEMPT_LIMIT: "1000000", LOGIN_ATTEMPT_LIMIT: "1000000" },
    // The fan-out's watchers (the session's two people) close between rounds, longer than the
    // default 15-s grace while the other side runs: metering would pause and refuse the next
    // round's messages until their sockets are back. Pauses are not what it measures.
    session: { PAUSE_GRACE_SECONDS: "3600" },
  },
  command: (name) => serviceCommand(name, "bundle"),
});
const processes: ChildProcess[] = [];
try {
  const plainEdgeEnv = {
    ...edgeEnv,
    HTTP_PORT: "0",
    HTTP_HOST: "127.0.0.1",
    SERVICE_NAME: "edge",
    SERVICE_SECRET: secrets.services.edge,
    AUTH_ADDRESS: platform.grpc.auth,
    USER_ADDRESS: platform.grpc.user,
    BILLING_ADDRESS: platform.grpc.billing,
    SESSION_ADDRESS: platform.grpc.session,
    REDIS_URL: "",
  };
  const edgePort = (line: string) =>
    line.includes("edge listening") ? Number(/"port":(\d+)/.exec(line)?.[1]) : undefined;
  const noRedisEdge = await launchService("edge", plainEdgeEnv, {
    readyPort: edgePort,
    timeoutMs: 60_000,
    command: serviceCommand("edge", "bundle"),
  });
  processes.push(noRedisEdge.process);
  const edgeUrl = platform.httpUrl;
  const plainEdgeUrl = `http://127.0.0.1:${noRedisEdge.port}`;
  const api = async (
    method: string,
    route: string,
    body?: unknown,
    token?: string,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(edgeUrl + route, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${text}`);
    return JSON.parse(text) as Line;
  };
  const password = `bench passphrase ${randomBytes(6).toString("hex")}`;
  const register = async (name: string) => {
    const email = `${name}-${randomUUID()}@bench.example`;
    const answer = await api("POST", "/v1/auth/register", { email, password, display_name: name });
    return { email, userId: answer.account.user_id as string, token: answer.tokens.access_token as string };
  };

  // People: a user with money and an expert in an active chat session.
  const user = await register("user");
  const expertAccount = await register("expert");
  const admin = await api("POST", "/v1/auth/login", {
    identifier: secrets.adminEmail,
    password: secrets.adminPassword,
  });
  await api(
    "POST",
    `/v1/users/${expertAccount.userId}/role`,
    { role: "ROLE_EXPERT", reason: "bench expert" },
    admin.tokens.access_token,
  );
  const expertToken = (await api("POST", "/v1/auth/login", { identifier: expertAccount.email, password }))
    .tokens.access_token as string;
  await api(
    "PUT",
    `/v1/experts/${expertAccount.userId}/profile`,
    {
      chat_rate: { amount_minor: "100", currency: "INR" },
      call_rate: { amount_minor: "100", currency: "INR" },
      max_concurrent_sessions: 1,
    },
    expertToken,
  );
  await api("POST", "/v1/me/availability", { availability: "EXPERT_AVAILABILITY_AVAILABLE" }, expertToken);
  const topUp = await api(
    "POST",
    "/v1/me/topups",
    { amount: { amount_minor: "10000000", currency: "INR" }, request_id: randomUUID() },
    user.token,
  );
  const event = JSON.stringify({
    event_id: `evt_${randomUUID()}`,
    payment_id: topUp.payment.payment_id,
    status: "succeeded",
    amount_minor: 10000000,
    currency: "INR",
  });
  await api("POST", "/v1/webhooks/payments/development", event, undefined, {
    "parley-signature": signPayload(secrets.webhookSecret, Math.floor(Date.now() / 1000), event),
  });
  // The expert is present while a socket of theirs is open (the bench's own, held throughout).
  const { default: WebSocket } = await import("ws");
  const presence = new WebSocket(`${edgeUrl.replace("http", "ws")}/v1/ws`);
  await new Promise((resolve) => presence.once("open", resolve));
  presence.send(JSON.stringify({ type: "auth", token: expertToken }));
  for (let i = 0; i < 50; i++) {
    const expert = await api("GET", `/v1/experts/${expertAccount.userId}`);
    if (expert.expert.availability === "EXPERT_AVAILABILITY_AVAILABLE") break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const session = await api(
    "POST",
    "/v1/sessions",
    { expert_id: expertAccount.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    user.token,
  );
  const sessionId = session.session.session_id as string;
  await api("POST", `/v1/sessions/${sessionId}:accept`, {}, expertToken);

  const walletJson = JSON.stringify(await api("GET", "/v1/me/wallet", undefined, user.token));
  const bare = await start("bare-http.ts", [walletJson]);
  processes.push(bare.child);
  const bareUrl = `http://127.0.0.1:${bare.first.port}`;

  // The edge's own ceiling: a third edge whose billing is a constant gRPC answer, so neither
  // billing nor Postgres is what is measured.
  const { registry } = loadCatalogue();
  const walletBytes = encodeJson(
    registry.getMessage("parley.billing.v1.GetWalletResponse")!,
    JSON.parse(walletJson),
    registry,
  );
  const constant = await start("constant-upstream.ts", [walletBytes.toString("base64")]);
  processes.push(constant.child);
  killWithThisProcess(constant.child);
  const ceilingEdge = await launchService(
    "edge",
    { ...plainEdgeEnv, BILLING_ADDRESS: `127.0.0.1:${constant.first.port}` },
    { readyPort: edgePort, timeoutMs: 60_000, command: serviceCommand("edge", "bundle") },
  );
  processes.push(ceilingEdge.process);
  const ceilingUrl = `http://127.0.0.1:${ceilingEdge.port}`;

  const pids = {
    ceiling: ceilingEdge.process.pid!,
    constant: constant.child.pid!,
    edge: platform.services.edge.process.pid!,
    session: platform.services.session.process.pid!,
    edgeNoRedis: noRedisEdge.process.pid!,
    billing: platform.services.billing.process.pid!,
    user: platform.services.user.process.pid!,
    auth: platform.services.auth.process.pid!,
    bare: bare.child.pid!,
  };
  const bearer = { authorization: `Bearer ${user.token}` };
  const http = (url: string, headers: Record<string, string> = bearer) => ({
    protocol: "http",
    url,
    headers,
  });
  const grpcWallet = {
    protocol: "grpc",
    url: platform.grpc.billing,
    path: "/parley.billing.v1.BillingService/GetWallet",
    requestBase64: "",
    headers: bearer,
  };
  const requests = (target: unknown, mode: "closed" | "fixed", pid: number[]) =>
    load(
      {
        kind: "requests",
        target,
        mode,
        concurrency: CONNECTIONS,
        rate: RATE,
        seconds: SECONDS,
        warmupSeconds: 2,
      },
      pid,
    );

  type Row = Awaited<ReturnType<typeof requests>> & { name: string };
  const rows: Row[] = [];
  const measure = async (name: string, target: unknown, mode: "closed" | "fixed", pid: number[]) => {
    const row = { name, ...(await requests(target, mode, pid)) };
    rows.push(row);
    return row;
  };
  const perRequestUs = (row: { cpu: number[]; requests: number } | undefined, i = 0) =>
    row ? (row.cpu[i]! / row.requests) * 1e6 : Number.NaN;
  const ms = (n: number | undefined) => `${(n ?? Number.NaN).toFixed(2).padStart(7)} ms`;
  const report: string[] = [];
  const figures: Record<string, unknown> = { bench: "edge" };
  const round = (n: number, digits: number) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

  if (runs("requests")) {
    // Closed loop: how much each path serves, and what each request costs its processes.
    const grpcClosed = await measure("gRPC direct (billing.GetWallet)", grpcWallet, "closed", [pids.billing]);
    const edgeClosed = await measure(
      "edge, Redis (GET /v1/me/wallet)",
      http(`${edgeUrl}/v1/me/wallet`),
      "closed",
      [pids.edge, pids.billing],
    );
    const plainClosed = await measure("edge, no Redis", http(`${plainEdgeUrl}/v1/me/wallet`), "closed", [
      pids.edgeNoRedis,
      pids.billing,
    ]);
    const bareClosed = await measure("bare Fastify, same JSON", http(`${bareUrl}/v1/me/wallet`), "closed", [
      pids.bare,
    ]);
    // The rounds after the first (whose runs are the table's), bare first in odd rounds.
    const pairs = [{ edge: edgeClosed, bare: bareClosed }];
    const runEdge = () => requests(http(`${edgeUrl}/v1/me/wallet`), "closed", [pids.edge, pids.billing]);
    const runBare = () => requests(http(`${bareUrl}/v1/me/wallet`), "closed", [pids.bare]);
    for (let round = 1; round < ROUNDS; round++) {
      if (round % 2 === 1) {
        const bareRun = await runBare();
        pairs.push({ bare: bareRun, edge: await runEdge() });
      } else {
        const edgeRun = await runEdge();
        pairs.push({ edge: edgeRun, bare: await runBare() });
      }
    }
    const ceilingClosed = await measure(
      "edge, constant upstream",
      http(`${ceilingUrl}/v1/me/wallet`),
      "closed",
      [pids.ceiling, pids.constant],
    );
    const expertsGrpc = await measure(
      "gRPC direct (user.ListExperts)",
      {
        protocol: "grpc",
        url: platform.grpc.user,
        path: "/parley.user.v1.UserService/ListExperts",
        requestBase64: "",
      },
      "closed",
      [pids.user],
    );
    const expertsEdge = await measure(
      "edge, Redis (GET /v1/experts)",
      http(`${edgeUrl}/v1/experts`, {}),
      "closed",
      [pids.edge, pids.user],
    );
    // Fixed rate: latency at the same load on every path.
    const grpcFixed = await measure("gRPC direct, fixed rate", grpcWallet, "fixed", [pids.billing]);
    const edgeFixed = await measure("edge, Redis, fixed rate", http(`${edgeUrl}/v1/me/wallet`), "fixed", [
      pids.edge,
      pids.billing,
    ]);
    const plainFixed = await measure(
      "edge, no Redis, fixed rate",
      http(`${plainEdgeUrl}/v1/me/wallet`),
      "fixed",
      [pids.edgeNoRedis, pids.billing],
    );
    const bareFixed = await measure("bare Fastify, fixed rate", http(`${bareUrl}/v1/me/wallet`), "fixed", [
      pids.bare,
    ]);
    const ceilingFixed = await measure(
      "edge, constant upstream, fixed rate",
      http(`${ceilingUrl}/v1/me/wallet`),
      "fixed",
      [pids.ceiling, pids.constant],
    );
    const cpuRatios = pairs.map((pair) => perRequestUs(pair.edge) / perRequestUs(pair.bare));
    const rpsRatios = pairs.map((pair) => pair.edge.rps / pair.bare.rps);
    figures.cpu_vs_bare = round(median(cpuRatios), 2);
    figures.rps_vs_bare = round(median(rpsRatios), 3);
    figures.p99_vs_grpc = round(edgeFixed.p99 / grpcFixed.p99, 2);
    const perRound = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(", ");
    report.push(
      `edge CPU per request, closed loop: ${perRequestUs(edgeClosed).toFixed(0)} µs with Redis, ${perRequestUs(plainClosed).toFixed(0)} µs without; bare Fastify ${perRequestUs(bareClosed).toFixed(0)} µs; GET /v1/experts ${perRequestUs(expertsEdge).toFixed(0)} µs`,
      `edge (Redis) against bare Fastify, closed loop, ${ROUNDS} rounds alternating which runs first: edge ${perRound(
        pairs.map((pair) => perRequestUs(pair.edge)),
        0,
      )} µs, bare ${perRound(
        pairs.map((pair) => perRequestUs(pair.bare)),
        0,
      )} µs: CPU ${perRound(cpuRatios, 2)}× (median ${figures.cpu_vs_bare}), throughput ${perRound(rpsRatios, 3)} (median ${figures.rps_vs_bare})`,
      `edge CPU per request at ${RATE}/s: ${perRequestUs(edgeFixed).toFixed(0)} µs with Redis, ${perRequestUs(plainFixed).toFixed(0)} µs without; bare Fastify ${perRequestUs(bareFixed).toFixed(0)} µs (${(perRequestUs(edgeFixed) / perRequestUs(bareFixed)).toFixed(2)}×)`,
      `edge before a constant upstream (its own ceiling): ${ceilingClosed.rps.toFixed(0)}/s at ${perRequestUs(ceilingClosed).toFixed(0)} µs: ${(perRequestUs(ceilingClosed) / perRequestUs(bareClosed)).toFixed(2)}× bare CPU, ${(ceilingClosed.rps / bareClosed.rps).toFixed(2)}× bare throughput; at ${RATE}/s ${perRequestUs(ceilingFixed).toFixed(0)} µs (${(perRequestUs(ceilingFixed) / perRequestUs(bareFixed)).toFixed(2)}× bare), p99 ${ms(ceilingFixed.p99)}`,
      `throughput vs bare ${figures.rps_vs_bare}; vs gRPC direct ${(edgeClosed.rps / grpcClosed.rps).toFixed(2)} (experts ${(expertsEdge.rps / expertsGrpc.rps).toFixed(2)})`,
      `fixed rate p99: edge ${ms(edgeFixed.p99)} (no Redis ${ms(plainFixed.p99)}), gRPC ${ms(grpcFixed.p99)}, bare ${ms(bareFixed.p99)}`,
    );
  }

  const sampleFrame = JSON.stringify({
    type: "event",
    session_id: sessionId,
    event: {
      seq: "123",
      session_id: sessionId,
      occurred_at: new Date().toISOString(),
      message: {
        message_id: randomUUID(),
        session_id: sessionId,
        seq: "123",
        sender_id: user.userId,
        kind: "MESSAGE_KIND_TEXT",
        text: "__TEXT__",
        attachment_url: "",
        attachment_content_type: "",
        client_msg_id: randomUUID(),
        sent_at: new Date().toISOString(),
      },
    },
  });
  const startBareWs = async () => {
    const bareWs = await start("bare-ws.ts", [sampleFrame]);
    processes.push(bareWs.child);
    return { pid: bareWs.child.pid!, url: `ws://127.0.0.1:${bareWs.first.port}` };
  };

  if (runs("fanout")) {
    // WATCHERS sockets on one session (user and expert, half each), messages sent through the
    // edge (HTTP → session → bus → the one WatchSession → every socket), against the bare ws
    // broadcast driven the same way: ROUNDS rounds of each, the side that goes first alternating.
    const bareWs = await startBareWs();
    const messagesPerRound = Math.ceil(MESSAGES / ROUNDS);
    const fanoutJob = {
      kind: "fanout",
      watchers: WATCHERS,
      sessionId,
      messages: messagesPerRound,
      warmupMessages: FANOUT_WARMUP,
      intervalMs: 50,
    };
    const edgeSide = async () => {
      const last = await api(
        "POST",
        `/v1/sessions/${sessionId}/messages`,
        { kind: "MESSAGE_KIND_TEXT", text: "before the fan-out", client_msg_id: randomUUID() },
        user.token,
      );
      return load(
        {
          ...fanoutJob,
          afterSeq: String(last.message.seq),
          wsUrl: `${edgeUrl.replace("http", "ws")}/v1/ws`,
          tokens: [user.token, expertToken],
          send: { via: "http", url: `${edgeUrl}/v1/sessions/${sessionId}/messages`, token: user.token },
        },
        [pids.edge, pids.session],
      );
    };
    // Session is idle during the bare runs: what it burns then (its pollers) is not the messages'.
    const bareSide = () =>
      load({ ...fanoutJob, afterSeq: "0", wsUrl: bareWs.url, tokens: [], send: { via: "ws" } }, [
        bareWs.pid,
        pids.session,
      ]);
    // A second between runs: the sockets just cut are the server's to clean up, not the next run's.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));
    const edgeRuns: Line[] = [];
    const bareRuns: Line[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [edgeSide, bareSide] : [bareSide, edgeSide];
      for (const side of order) {
        (side === edgeSide ? edgeRuns : bareRuns).push(await side());
        await settle();
      }
    }
    const pooled = (sideRuns: Line[], key: string) =>
      sideRuns.flatMap((run) => run[key] as number[]).sort((a, b) => a - b);
    const total = (sideRuns: Line[], value: (run: Line) => number) =>
      sideRuns.reduce((sum, run) => sum + value(run), 0);
    const measuredMessages = messagesPerRound * ROUNDS;
    const edgeLast = pooled(edgeRuns, "last");
    const edgeAnswered = pooled(edgeRuns, "answered");
    const bareLast = pooled(bareRuns, "last");
    const edgeLost = total(edgeRuns, (run) => run.lost);
    const edgeDeliveries = total(edgeRuns, (run) => run.deliveries);
    const sessionIdlePerSecond = total(bareRuns, (run) => run.cpu[1]) / total(bareRuns, (run) => run.seconds);
    const sessionPerMessageUs =
      ((total(edgeRuns, (run) => run.cpu[1]) - sessionIdlePerSecond * total(edgeRuns, (run) => run.seconds)) /
        measuredMessages) *
      1e6;
    const perDeliveryUs = (sideRuns: Line[]) =>
      ((total(sideRuns, (run) => run.cpu[0]) / (WATCHERS * measuredMessages)) * 1e6).toFixed(1);
    const p99ByRound = (sideRuns: Line[]) =>
      sideRuns
        .map((run) =>
          percentile(
            [...run.last].sort((a, b) => a - b),
            0.99,
          ).toFixed(1),
        )
        .join(", ");
    figures.fanout_last_p99_ms = round(percentile(edgeLast, 0.99), 1);
    figures.fanout_bare_p99_ms = round(percentile(bareLast, 0.99), 1);
    figures.fanout_lost = edgeLost;
    report.push(
      `fan-out ${WATCHERS} watchers × ${measuredMessages} messages (${ROUNDS} rounds of ${messagesPerRound} each side, after ${FANOUT_WARMUP} not measured each): last-watcher p50/p99 ${ms(percentile(edgeLast, 0.5))} / ${ms(percentile(edgeLast, 0.99))} (rounds' p99 ${p99ByRound(edgeRuns)} ms), lost ${edgeLost} of ${edgeDeliveries + edgeLost} (the sending POST p50/p99 ${ms(percentile(edgeAnswered, 0.5))} / ${ms(percentile(edgeAnswered, 0.99))}; last delivery after its answer p99 ${ms(percentile(pooled(edgeRuns, "afterAnswer"), 0.99))}), edge ${perDeliveryUs(edgeRuns)} µs CPU per delivery, session ${sessionPerMessageUs.toFixed(0)} µs per message (above its idle ${(sessionIdlePerSecond * 1e3).toFixed(0)} ms/s); bare ws ${ms(percentile(bareLast, 0.5))} / ${ms(percentile(bareLast, 0.99))} (rounds' p99 ${p99ByRound(bareRuns)} ms), lost ${total(bareRuns, (run) => run.lost)}, ${perDeliveryUs(bareRuns)} µs per delivery`,
    );
  }

  if (runs("idle")) {
    // Resident memory per open, authenticated socket, each on a fresh process: a new edge
    // (no Redis) and a new bare ws server, settled before and while the sockets are held.
    // RSS moves with garbage collection: the lowest of many samples (after a collection) is
    // taken, before opening the sockets and while holding them.
    const lowestRss = async (pid: number, ms: number) => {
      let lowest = Number.POSITIVE_INFINITY;
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
        lowest = Math.min(lowest, usage(pid).rssKib);
      return lowest;
    };
    const idle = async (wsUrl: string, tokens: string[], pid: number) => {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const before = await lowestRss(pid, 3000);
      let during: Promise<number> = Promise.resolve(before);
      await load({ kind: "idle", wsUrl, sockets: IDLE_SOCKETS, tokens, holdSeconds: 7 }, [pid], (line) => {
        if (line.event === "holding")
          during = new Promise((resolve) => setTimeout(() => resolve(lowestRss(pid, 4000)), 2000));
      });
      return ((await during) - before) / IDLE_SOCKETS;
    };
    const freshEdge = await launchService("edge", plainEdgeEnv, {
      readyPort: edgePort,
      timeoutMs: 60_000,
      command: serviceCommand("edge", "bundle"),
    });
    processes.push(freshEdge.process);
    const idleEdgeKib = await idle(
      `ws://127.0.0.1:${freshEdge.port}/v1/ws`,
      [user.token, expertToken],
      freshEdge.process.pid!,
    );
    const bareWs = await startBareWs();
    const idleBareKib = await idle(bareWs.url, [], bareWs.pid);
    figures.idle_ws_kib = round(idleEdgeKib, 1);
    report.push(
      `idle sockets (${IDLE_SOCKETS}): edge ${idleEdgeKib.toFixed(1)} KiB each (authenticated), bare ws ${idleBareKib.toFixed(1)} KiB`,
    );
  }

  if (runs("login")) {
    // The wallet route's p99 at a fixed rate, quiet and while 8 logins run at once. One wallet
    // load runs throughout, over 2 × LOGIN_ROUNDS consecutive windows of LOGIN_WINDOW_SECONDS
    // that alternate quiet and burst (a second load process logs in during the odd windows
    // only, on the same clock): this machine's other load drifts, and short alternating windows
    // spread it over both conditions. The first LOGIN_SETTLE_SECONDS of each window are not
    // counted (logins still answering, the sign-in notices' outbox relay, a burst starting),
    // nor are the first LOGIN_WARMUP_ROUNDS pairs: the wallet and login paths' first seconds
    // (code still compiling, pools and caches filling) are slower in both conditions, and the
    // first window, always a quiet one, would carry most of it. One pair was not enough: after
    // it the next two quiet windows' p99 still read 10–19 ms against 5–7 later (6 Dec, run U),
    // and those slow quiet windows lowered the pooled growth towards zero.
    // A window's p99 is its ~5th-worst request of ~450, one stall's worth, so windows are noisy:
    // the growth is the p99 of every burst window's requests pooled (~4,500, the ~45th worst) ÷
    // the p99 of every quiet window's requests pooled. Each window's p99 is printed too, and the
    // median over the burst windows of each one's p99 ÷ the mean p99 of the quiet windows on
    // either side of it.
    const burstRate = Math.min(RATE, 150);
    const windowMs = LOGIN_WINDOW_SECONDS * 1000;
    const windowCount = 2 * (LOGIN_WARMUP_ROUNDS + LOGIN_ROUNDS);
    const startAt = Date.now() + 5_000;
    const windowJob = { startAt, windowMs, windows: windowCount, settleMs: LOGIN_SETTLE_SECONDS * 1000 };
    const loginTarget = {
      protocol: "http",
      url: `${edgeUrl}/v1/auth/login`,
      method: "POST",
      body: JSON.stringify({ identifier: user.email, password }),
    };
    // auth's CPU at each window's edges, for its cores during the bursts and between them.
    const authCpu: number[] = [];
    const sampling = Array.from({ length: windowCount + 1 }, (_, k) =>
      setTimeout(() => authCpu.push(usage(pids.auth).cpu), startAt + k * windowMs - Date.now()),
    );
    const [wallet, logins] = await Promise.all([
      load(
        {
          kind: "windows",
          target: http(`${edgeUrl}/v1/me/wallet`),
          mode: "fixed",
          rate: burstRate,
          concurrency: CONNECTIONS,
          latencies: true,
          ...windowJob,
        },
        [],
      ),
      load(
        { kind: "windows", target: loginTarget, mode: "closed", concurrency: 8, active: "odd", ...windowJob },
        [],
      ),
    ]);
    for (const timer of sampling) clearTimeout(timer);
    // The warm-up's windows (and auth's CPU samples but the one that ends them) left out.
    const warmup = 2 * LOGIN_WARMUP_ROUNDS;
    const walletWindows = wallet.windows.slice(warmup);
    const loginWindows = logins.windows.slice(warmup);
    const authSamples = authCpu.slice(warmup);
    // biome-ignore lint/suspicious/noExplicitAny: JSON lines from the load generator
    const byParity = (windows: any[], parity: number) => windows.filter((_, i) => i % 2 === parity);
    /** The p99 of a condition's windows' requests pooled. */
    const pooledP99 = (parity: number) =>
      percentile(
        byParity(walletWindows, parity)
          .flatMap((w) => w.latencies as number[])
          .sort((a, b) => a - b),
        0.99,
      );
    const quietPooled = pooledP99(0);
    const duringPooled = pooledP99(1);
    const quietP99 = byParity(walletWindows, 0).map((w) => w.p99 as number);
    const duringP99 = byParity(walletWindows, 1).map((w) => w.p99 as number);
    // Each burst window against the mean of the quiet windows either side of it.
    const paired = duringP99.map((p99, k) => {
      const around = [quietP99[k], quietP99[k + 1]].filter((q) => q !== undefined) as number[];
      return p99 / (around.reduce((a, b) => a + b, 0) / around.length);
    });
    const burstWindows = byParity(loginWindows, 1);
    const authCores = (parity: number) =>
      median(
        authSamples
          .slice(1)
          .map((cpu, k) => (cpu - authSamples[k]!) / LOGIN_WINDOW_SECONDS)
          .filter((_, k) => k % 2 === parity),
      );
    // A login alone: 4 a second, each well after the one before has finished and its hashing
    // slot has rested (back to back, each would wait out the rest the one before owes).
    const single = await load(
      {
        kind: "requests",
        target: loginTarget,
        mode: "fixed",
        rate: 4,
        concurrency: 1,
        seconds: 5,
        warmupSeconds: 1,
      },
      [pids.auth],
    );
    const quiet = median(quietP99);
    const during = median(duringP99);
    const quartiles = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.round(q * (sorted.length - 1))]!;
      return `${at(0.25).toFixed(2)}–${at(0.75).toFixed(2)}`;
    };
    const walletErrors = wallet.windows.reduce((sum: number, w: Line) => sum + w.errors, 0);
    const loginErrors = burstWindows.reduce((sum: number, w: Line) => sum + w.errors, 0);
    figures.login_burst_p99_growth = round(duringPooled / quietPooled - 1, 2);
    report.push(
      `login burst (${LOGIN_ROUNDS} rounds of ${LOGIN_WINDOW_SECONDS} s quiet + ${LOGIN_WINDOW_SECONDS} s burst, the first ${LOGIN_SETTLE_SECONDS} s of each not counted): wallet p99 at ${burstRate}/s, each condition's requests pooled: quiet ${ms(quietPooled)}, during 8 concurrent logins ${ms(duringPooled)} (${(duringPooled / quietPooled).toFixed(2)}×, the figure); windows' p99: quiet ${quietP99.map((p) => p.toFixed(1)).join(", ")}; during ${duringP99.map((p) => p.toFixed(1)).join(", ")} ms; each burst ÷ the quiet windows beside it: median ${median(paired).toFixed(2)}, quartiles ${quartiles(paired)}; ratio of the windows' medians ${(during / quiet).toFixed(2)}; wallet errors ${walletErrors}; logins p50 ${ms(median(burstWindows.map((w: Line) => w.p50)))}, ${median(burstWindows.map((w: Line) => w.calls / LOGIN_WINDOW_SECONDS)).toFixed(1)}/s (${loginErrors} refused), auth ${authCores(1).toFixed(2)} cores (quiet ${authCores(0).toFixed(2)}); a login alone (4/s) p50 ${ms(single.p50)}`,
    );
  }
  presence.close();

  console.log(
    `edge benchmark, node ${process.version}, ${SECONDS} s per run, closed loop ${CONNECTIONS} callers, fixed rate ${RATE}/s`,
  );
  console.log(
    `${"path".padEnd(40)} ${"req/s".padStart(8)} ${"p50".padStart(10)} ${"p99".padStart(10)}   CPU µs/req (processes)`,
  );
  for (const row of rows)
    console.log(
      `${row.name.padEnd(40)} ${row.rps.toFixed(0).padStart(8)} ${ms(row.p50)} ${ms(row.p99)}   ${row.cpu
        .map((c: number) => ((c / row.requests) * 1e6).toFixed(0))
        .join(" + ")}${row.errors ? `   (${row.errors} errors)` : ""}`,
    );
  console.log(report.join("\n"));
  const keys = [
    "cpu_vs_bare",
    "rps_vs_bare",
    "p99_vs_grpc",
    "fanout_last_p99_ms",
    "fanout_bare_p99_ms",
    "fanout_lost",
    "login_burst_p99_growth",
    "idle_ws_kib",
  ];
  console.log(
    JSON.stringify({ bench: "edge", ...Object.fromEntries(keys.map((k) => [k, figures[k] ?? null])) }),
  );
} finally {
  for (const child of processes) child.kill("SIGTERM");
  await platform.stop();
  redisChild?.kill("SIGKILL");
  await database.drop();
}
