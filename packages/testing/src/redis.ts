import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { freePort } from "./ports";
import { killWithThisProcess } from "./spawn";

/** Whatever ends the server's life: a tap Test, or a benchmark's own list of clean-ups. */
export interface Teardown {
  teardown(cleanup: () => Promise<void> | void): void;
}

export interface ThrowawayRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** SIGKILL: the server is gone at once, mid-command, like a crashed host. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers (a hung server). */
  freeze(): void;
  thaw(): void;
  /** A new server on the same port (after kill), empty. */
  restart(): Promise<void>;
}

/**
 * Why fault tests that need their own `redis-server` cannot run here, or undefined when they
 * can. Pass it as tap's `skip` so the report states the reason.
 */
export function redisServerMissing(): string | undefined {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "the redis-server binary is not on PATH (fault tests start their own)";
  }
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  killWithThisProcess(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("redis-server did not start within 5 s")), 5_000);
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code} before serving`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.stdout!.resume();
  return child;
}

/**
 * A private `redis-server` on a free port for one test or benchmark (no persistence), killed when
 * it ends. Never touch the machine's shared Redis in a fault test: start one of these instead.
 */
export async function startThrowawayRedis(t: Teardown): Promise<ThrowawayRedis> {
  const port = await freePort();
  let child = await launch(port);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  };
  t.teardown(kill);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    freeze: () => child.kill("SIGSTOP"),
    thaw: () => child.kill("SIGCONT"),
    async restart() {
      await kill();
      child = await launch(port);
    },
  };
}
