import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Test } from "tap";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

export interface LaunchedService {
  /** "127.0.0.1:<port>", ready for createServiceClient. */
  address: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM, then resolves when the process has exited. */
  stop(): Promise<void>;
  /** Starts the service again with the same settings and port (platform services only). */
  respawn?: () => Promise<LaunchedService>;
}

export interface LaunchOptions {
  /** Every line the service prints (pino JSON on stdout; stderr too), for the caller to show or keep. */
  onLine?: (line: string) => void;
  /** The port a log line announces, once the service serves; gRPC's "listening" line by default. */
  readyPort?: (line: string) => number | undefined;
  timeoutMs?: number;
  /** What to run, and where; the service's own entry point by default (`serviceCommand`). */
  command?: ServiceCommand;
}

/** A service's entry point: the built one is `{ cwd: <deployed folder>, args: ["dist/main.js"] }`. */
export interface ServiceCommand {
  cwd: string;
  /** Arguments to this Node.js binary. */
  args: string[];
}

/** How a service runs: its bundle under plain node, as production runs it, or its sources through tsx. */
export type ServiceForm = "bundle" | "sources";

/**
 * A service's own entry point, in its folder: its bundle (`dist/main.js`) or its sources
 * (`src/main.ts` through tsx). By default the bundle when TEST_SERVICES_BUILT is 1 — `pnpm test`
 * builds every service first and sets it — otherwise the sources. A bundle starts in about half
 * the CPU time (0.8–1.0 s against 1.6–2.5 s on the 2-core machine), and a run starts some 160.
 */
export const serviceCommand = (
  name: string,
  form: ServiceForm = process.env.TEST_SERVICES_BUILT === "1" ? "bundle" : "sources",
): ServiceCommand => ({
  cwd: path.join(REPO_ROOT, "services", name),
  args: form === "bundle" ? ["dist/main.js"] : ["--import", "tsx", "src/main.ts"],
});

/** Every child process this process started that still runs (services, and others it was given). */
const running = new Set<ChildProcess>();
let killingAtExit = false;
let killingOnSignals = false;

/**
 * `child` is killed (SIGKILL) if it still runs when this process exits, a crash included: a
 * benchmark or test that fails leaves no process behind holding ports, database connections
 * and CPU. Every service `launchService` starts is registered so.
 */
export function killWithThisProcess(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (killingAtExit) return;
  killingAtExit = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

/**
 * For test and benchmark processes: every child they started is also killed when a signal ends
 * them — tap timing a file out (SIGTERM) skips its teardowns, Ctrl-C stops a benchmark — where
 * Node.js would exit without its exit handlers. (`pnpm start` stops its services gracefully
 * instead.)
 */
export function killChildrenOnSignals(): void {
  if (killingOnSignals) return;
  killingOnSignals = true;
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const)
    process.once(signal, () => {
      for (const child of running) child.kill("SIGKILL");
      process.kill(process.pid, signal);
    });
}

const grpcListeningPort = (line: string): number | undefined => {
  if (!line.includes("gRPC server listening")) return undefined;
  const match = /"address":"[^"]*:(\d+)"/.exec(line);
  return match ? Number(match[1]) : undefined;
};

/**
 * Starts a real service (`serviceCommand(name)`, or `options.command`) as a child process with the given
 * environment on top of this one, and resolves once it logs that it serves (by default the
 * kit's `gRPC server listening` line: with GRPC_PORT=0 it binds a free port and says which).
 */
export async function launchService(
  name: string,
  env: Record<string, string>,
  options: LaunchOptions = {},
): Promise<LaunchedService> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const command = options.command ?? serviceCommand(name);
  const child = spawn(process.execPath, command.args, {
    cwd: command.cwd,
    env: { ...process.env, GRPC_PORT: "0", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const recent: string[] = [];
  const remember = (text: string) => {
    recent.push(text);
    if (recent.length > 200) recent.shift();
  };
  killWithThisProcess(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  createInterface({ input: child.stderr! }).on("line", (line) => {
    remember(`${line}\n`);
    options.onLine?.(line);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`${name} ${why}:\n${recent.join("")}`));
    const timer = setTimeout(() => {
      fail(`did not start within ${timeoutMs} ms`);
      child.kill("SIGKILL");
    }, timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      fail(`exited with ${child.exitCode ?? child.signalCode} before serving`);
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      remember(`${line}\n`);
      options.onLine?.(line);
      const readyPort = (options.readyPort ?? grpcListeningPort)(line);
      if (readyPort !== undefined) {
        clearTimeout(timer);
        resolve(readyPort);
      }
    });
  });
  return { address: `127.0.0.1:${port}`, port, process: child, stop };
}

/** One PAGE_TOKEN_SECRET for the services a test process spawns. */
const TEST_PAGE_TOKEN_SECRET = randomBytes(32).toString("base64url");

/** launchService for one test: quiet logs and a page token secret by default, stopped when the test ends. */
export async function spawnService(
  t: Test,
  name: string,
  env: Record<string, string>,
): Promise<LaunchedService> {
  killChildrenOnSignals();
  const service = await launchService(name, {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info",
    PAGE_TOKEN_SECRET: TEST_PAGE_TOKEN_SECRET,
    ...env,
  });
  t.teardown(service.stop);
  return service;
}
