import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import t from "tap";

t.test(
  "a port claimed in the run's claims directory is never handed out again, by any process",
  async (t) => {
    const claims = mkdtempSync(path.join(tmpdir(), "parley-ports-test-"));
    t.teardown(() => rmSync(claims, { recursive: true, force: true }));
    // Every port of the range claimed by "other processes" but three.
    const unclaimed = [20_000, 26_123, 32_767];
    for (let port = 20_000; port <= 32_767; port++) {
      if (!unclaimed.includes(port)) writeFileSync(path.join(claims, String(port)), "");
    }
    process.env.TEST_PORT_CLAIMS_DIR = claims;
    const { freePort } = await import("../src/ports");

    const given: number[] = [];
    let refusal: unknown;
    for (let call = 0; call <= unclaimed.length && refusal === undefined; call++) {
      try {
        given.push(await freePort());
      } catch (error) {
        refusal = error;
      }
    }
    // One of the three could be bound by another test's process right now: it is skipped, not given.
    t.ok(given.length >= 1, `given ${given.join(", ")}`);
    t.ok(
      given.every((port) => unclaimed.includes(port)),
      "only unclaimed ports",
    );
    t.equal(new Set(given).size, given.length, "each once");
    t.ok(
      given.every((port) => existsSync(path.join(claims, String(port)))),
      "each claimed for the other processes",
    );
    t.match(
      String(refusal),
      /no free port left in 20000–32767/,
      "then a clear refusal, not an endless search",
    );
  },
);
