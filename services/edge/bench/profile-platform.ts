// `pnpm tsx services/edge/bench/profile-platform.ts [out-dir]`: CPU profiles of a whole
// platform's processes (Redis as in production) under one of bench:edge's loads through the
// edge: PROFILE_LOAD=wallet (the default: GET /v1/me/wallet, closed loop, 32 callers) or
// login (POST /v1/auth/login of one account, closed loop, 8 callers: the login burst). The
// processes in PROFILE_SERVICES (edge,billing by default) run with --cpu-prof; the profiles
// are cut to the measured seconds (PROFILE_SECONDS, 10) and written to out-dir as
// <service>.cpuprofile, for Chrome DevTools or speedscope; the top functions by self time
// are printed, with each process's CPU per request.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  createBenchDatabase,
  generateSecrets,
  killChildrenOnSignals,
  launchPlatform,
  REPO_ROOT,
} from "@parley/testing";
import { runLoad } from "./run-load";

const out = path.resolve(process.argv[2] ?? "profiles");
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const profiled = (process.env.PROFILE_SERVICES ?? "edge,billing").split(",");
const loadName = process.env.PROFILE_LOAD ?? "wallet";
if (loadName !== "wallet" && loadName !== "login") throw new Error("PROFILE_LOAD is wallet or login");
const raw = (service: string) => path.join(out, `raw-${service}`);
for (const service of profiled) {
  rmSync(raw(service), { recursive: true, force: true });
  mkdirSync(raw(service), { recursive: true });
}

killChildrenOnSignals();
const database = await createBenchDatabase();
const secrets = generateSecrets();
const platform = await launchPlatform({
  databaseUrl: database.url,
  ...(process.env.REDIS_URL
    ? { redisUrl: process.env.REDIS_URL, redisKeyPrefix: `parley-profile-${randomUUID()}:` }
    : {}),
  secrets,
  env: {
    edge: { RATE_LIMIT_PER_MINUTE: "1000000000" },
    // One account logging in 8 at a time: without higher limits most attempts are refused.
    auth: { LOGIN_IP_ATTEMPT_LIMIT: "1000000", LOGIN_ATTEMPT_LIMIT: "1000000" },
  },
  command: (service) => ({
    cwd: path.join(REPO_ROOT, "services", service),
    args: [
      ...(profiled.includes(service) ? ["--cpu-prof", `--cpu-prof-dir=${raw(service)}`] : []),
      "--import",
      "tsx",
      "src/main.ts",
    ],
  }),
});
let window: [bigint, bigint] = [0n, 0n];
let requests = 0;
try {
  const email = `profile-${randomUUID()}@bench.example`;
  const password = `profile passphrase ${randomBytes(6).toString("hex")}`;
  const response = await fetch(`${platform.httpUrl}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password, display_name: "profile" }),
  });
  const token = ((await response.json()) as { tokens: { access_token: string } }).tokens.access_token;
  const target =
    loadName === "wallet"
      ? {
          protocol: "http",
          url: `${platform.httpUrl}/v1/me/wallet`,
          headers: { authorization: `Bearer ${token}` },
        }
      : {
          protocol: "http",
          url: `${platform.httpUrl}/v1/auth/login`,
          method: "POST",
          body: JSON.stringify({ identifier: email, password }),
        };
  const job = {
    kind: "requests",
    target,
    mode: "closed",
    concurrency: loadName === "wallet" ? 32 : 8,
    seconds,
    warmupSeconds: 3,
  };
  for await (const line of runLoad(job)) {
    if (line.event === "measuring") window = [process.hrtime.bigint() / 1000n, 0n];
    else if (line.event === "result") {
      window[1] = process.hrtime.bigint() / 1000n;
      requests = line.rps * seconds;
      console.log(`${line.rps.toFixed(0)} requests/s, p99 ${line.p99.toFixed(1)} ms, ${line.errors} errors`);
    }
  }
} finally {
  await platform.stop();
  await database.drop();
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The profile's samples within the measured window only. */
function cut(profile: Profile): Profile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let time = profile.startTime;
  let last = 0;
  let first = 0;
  profile.samples.forEach((sample, i) => {
    time += profile.timeDeltas[i]!;
    if (time < Number(window[0]) || time > Number(window[1])) return;
    if (samples.length === 0) first = time;
    samples.push(sample);
    timeDeltas.push(samples.length === 1 ? 0 : time - last);
    last = time;
  });
  return { ...profile, samples, timeDeltas, startTime: first, endTime: last };
}

/** The functions with the most self samples (idle excluded), with their inclusive shares. */
function top(profile: Profile, count = 30) {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (node: Node) =>
    `${node.callFrame.functionName || "(anonymous)"} ${path.basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let busyMicros = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") return;
    busy++;
    busyMicros += profile.timeDeltas[i + 1] ?? 0;
    self.set(key(node), (self.get(key(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
    }
  });
  const pct = (n: number) => `${((100 * n) / busy).toFixed(1)}%`.padStart(6);
  const idle = profile.samples.length - busy;
  console.log(
    `busy ${busy} samples, idle ${idle}; main thread ${(busyMicros / requests).toFixed(0)} µs per request`,
  );
  for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, count))
    console.log(`self ${pct(n)} incl ${pct(inclusive.get(k) ?? 0)}  ${k}`);
  console.log("-- inclusive");
  for (const [k, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, count))
    console.log(`incl ${pct(n)}  ${k}`);
}

for (const service of profiled) {
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (the
  // others are worker threads, auth's password hashing).
  const main = readdirSync(raw(service)).find((file) => file.split(".")[4] === "0")!;
  const profile = cut(JSON.parse(readFileSync(path.join(raw(service), main), "utf8")) as Profile);
  writeFileSync(path.join(out, `${service}.cpuprofile`), JSON.stringify(profile));
  rmSync(raw(service), { recursive: true, force: true });
  console.log(`== ${service}`);
  top(profile);
}
