import { randomInt } from "node:crypto";
import { createServer } from "node:net";

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
 * A free TCP port for a process started next. Chosen at random below the ephemeral range: a
 * port the kernel handed out (port 0) is one it may give next to any outgoing connection — a
 * busy test run opens thousands, to Postgres and between services — so it could be taken
 * again in the seconds before the process binds it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = randomInt(LOWEST, HIGHEST + 1);
    if (await bindable(port)) return port;
  }
}
