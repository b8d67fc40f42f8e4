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

for (const signal of ["SIGTERM", "SIGINT"] as const)
  t.test(`a test process ended by ${signal} takes the services it started with it`, async (t) => {
    const parent = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "fixtures/launch-and-wait.ts")],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const pid = await new Promise<number>((resolve) =>
      createInterface({ input: parent.stdout! }).on("line", (line) => {
        const match = /^service (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      }),
    );
    t.ok(alive(pid), "the service runs");
    const ended = new Promise((resolve) => parent.once("exit", resolve));
    parent.kill(signal);
    await ended;
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    t.notOk(alive(pid), "and is gone once the test process is");
  });
