// Starts the load generator (load.ts) in its own process with one job and yields each JSON line
// it prints: `measuring` where the measured part starts (after the warm-up), `result` at the
// end, and the job kind's own events. A `failed` line throws. Every bench tool runs its load
// through this, so the generator is started one way.
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { killWithThisProcess } from "@parley/testing";

// biome-ignore lint/suspicious/noExplicitAny: JSON lines whose fields depend on the job's kind
export type LoadLine = { event: string } & Record<string, any>;

export async function* runLoad(job: unknown): AsyncGenerator<LoadLine> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "load.ts"), JSON.stringify(job)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  killWithThisProcess(child);
  try {
    for await (const text of createInterface({ input: child.stdout! })) {
      const line = JSON.parse(text) as LoadLine;
      if (line.event === "failed") throw new Error(`load generator: ${line.error}`);
      yield line;
    }
  } finally {
    if (child.exitCode === null) child.kill();
  }
}
