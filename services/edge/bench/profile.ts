// `pnpm tsx services/edge/bench/profile.ts [out.cpuprofile]`: a CPU profile of the edge alone
// serving GET /v1/me/wallet (closed loop, 32 callers) before a constant gRPC upstream
// (constant-upstream.ts), so only the edge's own per-request work is sampled. The edge runs
// in this process as main.ts builds it (access log unredacted, in batches); the load
// generator (load.ts) is its own process. Profiles the measured seconds only (PROFILE_SECONDS,
// 10), prints CPU µs per request, and writes the profile for Chrome DevTools or speedscope.
// PROFILE_CPU=0 only measures (no profiler: its sampling costs CPU too), for comparing builds.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { parseConfig } from "@parley/kit/config";
import { createLogger } from "@parley/kit/log";
import { createMetrics } from "@parley/kit/metrics";
import { createTestIssuer } from "@parley/testing";
import pino from "pino";
import { edgeConfigShape } from "../src/config";
import { buildEdge } from "../src/server";

const out = process.argv[2] ?? "edge.cpuprofile";
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const profiling = process.env.PROFILE_CPU !== "0";
const here = import.meta.dirname;
const firstLine = (child: ReturnType<typeof spawn>) =>
  new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));

const upstream = spawn(process.execPath, ["--import", "tsx", path.join(here, "constant-upstream.ts"), ""], {
  stdio: ["ignore", "pipe", "inherit"],
});
const { port } = JSON.parse(await firstLine(upstream)) as { port: number };
const issuer = await createTestIssuer();
const nowhere = "127.0.0.1:1";
const edge = await buildEdge({
  config: parseConfig(edgeConfigShape, {
    HTTP_PORT: "0",
    HTTP_HOST: "127.0.0.1",
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
    AUTH_ADDRESS: nowhere,
    USER_ADDRESS: nowhere,
    SESSION_ADDRESS: nowhere,
    BILLING_ADDRESS: `127.0.0.1:${port}`,
    RATE_LIMIT_PER_MINUTE: "1000000000",
  }),
  log: createLogger({ service: "edge", destination: new Writable({ write: (_c, _e, done) => done() }) }),
  accessLog: createLogger({
    service: "edge",
    redact: false,
    destination: pino.destination({ dest: "/dev/null", sync: false, minLength: 4096 }),
  }),
  metrics: createMetrics("edge").registry,
  identity: {
    verifier: issuer.verifier,
    credentials: () => issuer.serviceToken("edge"),
    jwks: async () => issuer.jwks,
  },
});
await edge.app.listen({ port: 0, host: "127.0.0.1" });
const { port: edgePort } = edge.app.server.address() as { port: number };
const job = {
  kind: "requests",
  target: {
    protocol: "http",
    url: `http://127.0.0.1:${edgePort}/v1/me/wallet`,
    headers: { authorization: `Bearer ${await issuer.userToken()}` },
  },
  mode: "closed",
  concurrency: 32,
  seconds,
  warmupSeconds: 2,
};
const session = new Session();
session.connect();
await session.post("Profiler.enable");
const load = spawn(process.execPath, ["--import", "tsx", path.join(here, "load.ts"), JSON.stringify(job)], {
  stdio: ["ignore", "pipe", "inherit"],
});
let before = process.cpuUsage();
for await (const text of createInterface({ input: load.stdout! })) {
  const line = JSON.parse(text) as { event: string; requests: number; rps: number; p99: number };
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
upstream.kill();
await edge.close();
