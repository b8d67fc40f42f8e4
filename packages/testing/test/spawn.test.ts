import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import t from "tap";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts the fixture; resolves with it and the pid of the service it started. */
async function launchAndWait(...args: string[]) {
  const parent = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "fixtures/launch-and-wait.ts"), ...args],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const ended = new Promise<number | null>((resolve) => parent.once("exit", resolve));
  const pid = await new Promise<number>((resolve) =>
    createInterface({ input: parent.stdout! }).on("line", (line) => {
      const match = /^service (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    }),
  );
  return { parent, ended, pid };
}

const gone = async (pid: number) => {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return !alive(pid);
};

for (const signal of ["SIGTERM", "SIGINT"] as const)
  t.test(`a test process ended by ${signal} takes the services it started with it`, async (t) => {
    const { parent, ended, pid } = await launchAndWait();
    t.ok(alive(pid), "the service runs");
    parent.kill(signal);
    await ended;
    t.ok(await gone(pid), "and is gone once the test process is");
  });

t.test("a process that fails takes the services it started with it", async (t) => {
  const { ended, pid } = await launchAndWait("crash");
  t.equal(await ended, 1, "the process failed (an unhandled rejection)");
  t.ok(await gone(pid), "and its service is gone");
});
