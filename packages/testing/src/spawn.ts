import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Test } from "tap";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

export interface SpawnedService {
  /** "127.0.0.1:<port>", ready for createServiceClient. */
  address: string;
  port: number;
  process: ChildProcess;
}

/**
 * Starts a real service (`services/<name>/src/main.ts`) as a child process on a free port,
 * with the given environment on top of this one, and resolves once it is serving. Lets a
 * test run another service without importing its source. Stopped (SIGTERM) when the test ends.
 */
export async function spawnService(
  t: Test,
  name: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<SpawnedService> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO_ROOT, "services", name, "src/main.ts")],
    {
      cwd: path.join(REPO_ROOT, "services", name),
      env: { ...process.env, GRPC_PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${output.join("")}`)),
      timeoutMs,
    );
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before serving:\n${output.join("")}`));
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(`${line}\n`);
      if (output.length > 200) output.shift();
      if (!line.includes("gRPC server listening")) return;
      const match = /:(\d+)"/.exec(/"address":"[^"]*"/.exec(line)?.[0] ?? "");
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  return { address: `127.0.0.1:${port}`, port, process: child };
}
