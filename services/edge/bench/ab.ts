// `pnpm tsx services/edge/bench/ab.ts <other checkout>`: the edge of another checkout (A: a
// worktree of main, say) against this one's (B), both built in this process (edge-alone.ts)
// before the same constant upstream, serving GET /v1/me/wallet to the same load generator
// (load.ts, its own process, closed loop 32 callers) in alternating rounds (A B, B A, …).
// Each round's CPU of this process per request; prints both medians and the median of the
// rounds' B/A ratios. The machine's load moves both builds alike, so the ratio holds where
// absolute figures swing. AB_ROUNDS (20) pairs of AB_SECONDS (3) measured seconds.
import path from "node:path";
import { startConstantUpstream, startEdgeAlone } from "./edge-alone";
import { runLoad } from "./run-load";

const here = import.meta.dirname;
const roots = [path.resolve(process.argv[2] ?? ""), path.join(here, "../../..")];
const rounds = Number(process.env.AB_ROUNDS ?? 20);
const seconds = Number(process.env.AB_SECONDS ?? 3);

const upstream = await startConstantUpstream(roots[1]!);
const edges: Array<Awaited<ReturnType<typeof startEdgeAlone>>> = [];
for (const root of roots) edges.push(await startEdgeAlone(root, upstream.address));

/** One round against an edge: its CPU µs per request over the measured seconds. */
const round = async (edge: (typeof edges)[number]) => {
  const job = {
    kind: "requests",
    target: { protocol: "http", url: edge.url, headers: { authorization: `Bearer ${edge.token}` } },
    mode: "closed",
    concurrency: 32,
    seconds,
    warmupSeconds: 1,
  };
  let before = process.cpuUsage();
  for await (const line of runLoad(job)) {
    if (line.event === "measuring") before = process.cpuUsage();
    else if (line.event === "result") {
      const cpu = process.cpuUsage(before);
      if (line.errors > 0) throw new Error(`${line.errors} requests failed`);
      return (cpu.user + cpu.system) / line.requests;
    }
  }
  throw new Error("the load generator stopped without a result");
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < rounds; i++) {
  if (i % 2 === 0) {
    a.push(await round(edges[0]!));
    b.push(await round(edges[1]!));
  } else {
    b.push(await round(edges[1]!));
    a.push(await round(edges[0]!));
  }
}
const ratios = a.map((value, i) => b[i]! / value);
console.log(
  `A ${median(a).toFixed(1)} µs, B ${median(b).toFixed(1)} µs per request; B/A median ${median(ratios).toFixed(3)} ` +
    `(rounds ${ratios.map((r) => r.toFixed(2)).join(" ")})`,
);
upstream.child.kill();
for (const edge of edges) await edge.close();
