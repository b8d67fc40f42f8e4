// `pnpm tsx services/edge/bench/login-cost.ts [other checkout]`: the CPU one login costs each
// process of a whole platform (Redis as in production) — edge, auth, user, billing, session,
// main thread and other threads apart, and the machine's Postgres and Redis servers — while 8 callers log in to one account at once
// (bench:edge's login burst), read from /proc over the measured seconds. With another checkout
// (A: a worktree of main, say), both platforms run side by side and take turns (A B, B A, …),
// so the machine's drift moves both alike; prints each side's medians per process and the
// median of the rounds' B/A ratios of the total (all but auth's hashing threads). COST_ROUNDS (4) pairs of COST_SECONDS (6).
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  createBenchDatabase,
  generateSecrets,
  killChildrenOnSignals,
  launchPlatform,
  REPO_ROOT,
} from "@parley/testing";
import { runLoad } from "./run-load";

const other = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
const rounds = Number(process.env.COST_ROUNDS ?? 4);
const seconds = Number(process.env.COST_SECONDS ?? 6);
const CLOCK_TICKS = 100;
const SERVICES = ["edge", "auth", "user", "billing", "session"] as const;

/** utime + stime of a process (all its threads) or, given a thread id, of that thread, in seconds. */
const cpuOf = (pid: number, thread?: number) => {
  try {
    const file = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const stat = readFileSync(file, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
};
/** Every process of the machine named `name`: the shared Postgres and Redis servers. */
const pidsNamed = (name: string) =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);

killChildrenOnSignals();

async function start(root: string) {
  const database = await createBenchDatabase();
  const platform = await launchPlatform({
    databaseUrl: database.url,
    ...(process.env.REDIS_URL
      ? { redisUrl: process.env.REDIS_URL, redisKeyPrefix: `parley-cost-${randomUUID()}:` }
      : {}),
    secrets: generateSecrets(),
    env: {
      edge: { RATE_LIMIT_PER_MINUTE: "1000000000" },
      auth: { LOGIN_IP_ATTEMPT_LIMIT: "1000000", LOGIN_ATTEMPT_LIMIT: "1000000" },
    },
    command: (service) => ({
      cwd: path.join(root, "services", service),
      args: ["--import", "tsx", "src/main.ts"],
    }),
  });
  const email = `cost-${randomUUID()}@bench.example`;
  const password = `cost passphrase ${randomBytes(6).toString("hex")}`;
  const registered = await fetch(`${platform.httpUrl}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password, display_name: "cost" }),
  });
  if (!registered.ok) throw new Error(`register: ${registered.status}`);
  const target = {
    protocol: "http",
    url: `${platform.httpUrl}/v1/auth/login`,
    method: "POST",
    body: JSON.stringify({ identifier: email, password }),
  };
  return { root, platform, database, target };
}

type Side = Awaited<ReturnType<typeof start>>;
type Costs = Record<string, number>;

/** One round: µs of CPU per login of each process, over the measured seconds. */
async function round(side: Side): Promise<Costs & { logins: number }> {
  // A service's main thread (its event loop) apart from its other threads (auth's hashing,
  // libuv's pool, GC helpers); the servers' processes by pid, new ones counted from zero.
  const sample = (): Record<string, number> => {
    const costs: Record<string, number> = {};
    for (const service of SERVICES) {
      const pid = side.platform.services[service].process.pid!;
      costs[service] = cpuOf(pid, pid);
      costs[`${service} threads`] = cpuOf(pid) - costs[service]!;
    }
    for (const [key, name] of [
      ["postgres", "postgres"],
      ["redis", "redis-server"],
    ] as const)
      for (const pid of pidsNamed(name)) costs[`${key}:${pid}`] = cpuOf(pid);
    return costs;
  };
  let before = sample();
  let after = before;
  let logins = 0;
  const job = {
    kind: "requests",
    target: side.target,
    mode: "closed",
    concurrency: 8,
    seconds,
    warmupSeconds: 2,
  };
  for await (const line of runLoad(job)) {
    if (line.event === "measuring") before = sample();
    else if (line.event === "result") {
      after = sample();
      logins = line.rps * seconds;
      if (line.errors > 0) throw new Error(`${line.errors} logins failed`);
    }
  }
  const costs: Costs = {};
  for (const [key, cpu] of Object.entries(after)) {
    const name = key.split(":")[0]!;
    costs[name] = (costs[name] ?? 0) + ((cpu - (before[key] ?? 0)) * 1e6) / logins;
  }
  // Everything but the password hashing (auth's other threads), whose cost is its purpose.
  costs.total = Object.entries(costs)
    .filter(([key]) => key !== "auth threads")
    .reduce((sum, [, cost]) => sum + cost, 0);
  return { ...costs, logins: logins / seconds };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const sides: Side[] = [];
try {
  if (other) sides.push(await start(other));
  sides.push(await start(REPO_ROOT));
  const results: Array<Array<Awaited<ReturnType<typeof round>>>> = sides.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides.map((_, i) => i) : sides.map((_, i) => i).reverse();
    for (const i of order) results[i]!.push(await round(sides[i]!));
  }
  const keys = [...SERVICES.flatMap((s) => [s, `${s} threads`]), "postgres", "redis", "total", "logins"];
  console.log(
    `${"µs CPU per login".padEnd(18)} ${sides.map((s) => path.basename(s.root).padStart(12)).join(" ")}`,
  );
  for (const key of keys)
    console.log(
      `${(key === "logins" ? "logins/s" : key).padEnd(18)} ${results
        .map((list) =>
          median(list.map((result) => result[key as keyof typeof result] as number))
            .toFixed(0)
            .padStart(12),
        )
        .join(" ")}`,
    );
  if (sides.length === 2) {
    const ratios = results[1]!.map((b, i) => b.total! / results[0]![i]!.total!);
    console.log(
      `B/A total per round: ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median(ratios).toFixed(2)}`,
    );
  }
} finally {
  for (const side of sides) {
    await side.platform.stop();
    await side.database.drop();
  }
}
