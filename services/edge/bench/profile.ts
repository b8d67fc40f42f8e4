// `pnpm tsx services/edge/bench/profile.ts [out.cpuprofile]`: a CPU profile of the edge alone
// serving GET /v1/me/wallet (closed loop, 32 callers) before a constant gRPC upstream
// (constant-upstream.ts, answering a wallet), so only the edge's own per-request work is
// sampled. The edge runs in this process as main.ts builds it (edge-alone.ts); the load
// generator (load.ts) is its own process. Profiles the measured seconds only (PROFILE_SECONDS,
// 10), prints CPU µs per request, and writes the profile for Chrome DevTools or speedscope.
// PROFILE_CPU=0 only measures (no profiler: its sampling costs CPU too), for comparing builds.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { startConstantUpstream, startEdgeAlone } from "./edge-alone";
import { runLoad } from "./run-load";

const out = process.argv[2] ?? "edge.cpuprofile";
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const profiling = process.env.PROFILE_CPU !== "0";
const here = import.meta.dirname;
const root = path.join(here, "../../..");

const upstream = await startConstantUpstream(root);
const edge = await startEdgeAlone(root, upstream.address);
const job = {
  kind: "requests",
  target: {
    protocol: "http",
    url: edge.url,
    headers: { authorization: `Bearer ${edge.token}` },
  },
  mode: "closed",
  concurrency: 32,
  seconds,
  warmupSeconds: 2,
};
const session = new Session();
session.connect();
await session.post("Profiler.enable");
let before = process.cpuUsage();
for await (const line of runLoad(job)) {
  if (line.event === "measuring") {
    before = process.cpuUsage();
    if (profiling) await session.post("Profiler.start");
  } else if (line.event === "result") {
    const cpu = process.cpuUsage(before);
    const perRequest = ((cpu.user + cpu.system) / line.requests).toFixed(0);
    const answered = `${line.rps.toFixed(0)} requests/s, p99 ${line.p99.toFixed(1)} ms, edge CPU ${perRequest} µs per request`;
    if (profiling) {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(out, JSON.stringify(profile));
      console.log(`${answered} (profiler on); profile: ${out}`);
    } else console.log(answered);
  }
}
upstream.child.kill();
await edge.close();
