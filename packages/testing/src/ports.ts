import { randomInt } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

/** Below Linux's ephemeral range (32768–60999): no outgoing connection is ever given one. */
const LOWEST = 20_000;
const HIGHEST = 32_767;

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });

/**
 * The ports handed out so far, by this process and, under `pnpm test`, by every process of the
 * run: a file per port in TEST_PORT_CLAIMS_DIR, created exclusively. A port is free only until
 * the process it was chosen for binds it, and a service killed and restarted on its port leaves
 * it unbound in between: two test files running at once must never be given the same one (on one
 * core a session started by services/edge/test/backoffice.test.ts found its port taken).
 */
const claimed = new Set<number>();
const claimsDir = process.env.TEST_PORT_CLAIMS_DIR;

const claim = (port: number): boolean => {
  if (claimed.has(port)) return false;
  claimed.add(port);
  if (!claimsDir) return true;
  try {
    writeFileSync(path.join(claimsDir, String(port)), "", { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
};

/**
 * A free TCP port for a process started next, never one handed out before in this process or
 * test run: the first free one from a random place below the ephemeral range. A port the kernel
 * handed out (port 0) is one it may give next to any outgoing connection — a busy test run opens
 * thousands, to Postgres and between services — so it could be taken again in the seconds before
 * the process binds it.
 */
export async function freePort(): Promise<number> {
  const count = HIGHEST - LOWEST + 1;
  const start = randomInt(count);
  for (let step = 0; step < count; step++) {
    const port = LOWEST + ((start + step) % count);
    if (claim(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port left in ${LOWEST}–${HIGHEST}`);
}
