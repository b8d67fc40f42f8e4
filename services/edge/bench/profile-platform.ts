// `pnpm tsx services/edge/bench/profile-platform.ts [out-dir]`: CPU profiles of the edge and
// billing processes of a whole platform (Redis as in production) while GET /v1/me/wallet is
// served closed loop (32 callers) through the edge — the bench:edge run the goals are read
// from. Both processes run with --cpu-prof; the profiles are cut to the measured seconds
// (PROFILE_SECONDS, 10) and written to out-dir as edge.cpuprofile and billing.cpuprofile, for
// Chrome DevTools or speedscope; the top functions by self time are printed.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { createBenchDatabase, generateSecrets, launchPlatform, REPO_ROOT } from "@parley/testing";

const out = path.resolve(process.argv[2] ?? "profiles");
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const here = import.meta.dirname;
const profiled = ["edge", "billing"] as const;
const raw = (service: string) => path.join(out, `raw-${service}`);
for (const service of profiled) {
  rmSync(raw(service), { recursive: true, force: true });
  mkdirSync(raw(service), { recursive: true });
}

const database = await createBenchDatabase();
const secrets = generateSecrets();
const platform = await launchPlatform({
  databaseUrl: database.url,
  ...(process.env.REDIS_URL
    ? { redisUrl: process.env.REDIS_URL, redisKeyPrefix: `parley-profile-${randomUUID()}:` }
    : {}),
  secrets,
  env: { edge: { RATE_LIMIT_PER_MINUTE: "1000000000" } },
  command: (service) => ({
    cwd: path.join(REPO_ROOT, "services", service),
    args: [
      ...((profiled as readonly string[]).includes(service)
        ? ["--cpu-prof", `--cpu-prof-dir=${raw(service)}`]
        : []),
      "--import",
      "tsx",
      "src/main.ts",
    ],
  }),
});
let window: [bigint, bigint] = [0n, 0n];
try {
  const response = await fetch(`${platform.httpUrl}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      email: `profile-${randomUUID()}@bench.example`,
      password: `profile passphrase ${randomBytes(6).toString("hex")}`,
      display_name: "profile",
    }),
  });
  const token = ((await response.json()) as { tokens: { access_token: string } }).tokens.access_token;
  const job = {
    kind: "requests",
    target: {
      protocol: "http",
      url: `${platform.httpUrl}/v1/me/wallet`,
      headers: { authorization: `Bearer ${token}` },
    },
    mode: "closed",
    concurrency: 32,
    seconds,
    warmupSeconds: 3,
  };
  const load = spawn(process.execPath, ["--import", "tsx", path.join(here, "load.ts"), JSON.stringify(job)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  for await (const text of createInterface({ input: load.stdout! })) {
    const line = JSON.parse(text) as { event: string; rps: number; p99: number; errors: number };
    if (line.event === "measuring") window = [process.hrtime.bigint() / 1000n, 0n];
    else if (line.event === "result") {
      window[1] = process.hrtime.bigint() / 1000n;
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
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") continue;
    busy++;
    self.set(key(node), (self.get(key(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
    }
  }
  const pct = (n: number) => `${((100 * n) / busy).toFixed(1)}%`.padStart(6);
  const idle = profile.samples.length - busy;
  console.log(`busy ${busy} samples, idle ${idle}`);
  for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, count))
    console.log(`self ${pct(n)} incl ${pct(inclusive.get(k) ?? 0)}  ${k}`);
  console.log("-- inclusive");
  for (const [k, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, count))
    console.log(`incl ${pct(n)}  ${k}`);
}

for (const service of profiled) {
  const files = readdirSync(raw(service));
  const profile = cut(JSON.parse(readFileSync(path.join(raw(service), files[0]!), "utf8")) as Profile);
  writeFileSync(path.join(out, `${service}.cpuprofile`), JSON.stringify(profile));
  rmSync(raw(service), { recursive: true, force: true });
  console.log(`== ${service}`);
  top(profile);
}
