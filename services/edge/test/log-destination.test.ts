import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import t from "tap";
import { batchedDestination } from "../src/log-destination";

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test("access lines are written in batches, in order, none held longer than the delay", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-log-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "access.log");
  const destination = batchedDestination(openSync(file, "w"), { batchBytes: 1024, maxDelayMs: 50 });
  const read = () => readFileSync(file, "utf8").split("\n").filter(Boolean);

  destination.write("one\n");
  destination.write("two\n");
  t.same(read(), [], "a small batch waits");
  await wait(150);
  t.same(read(), ["one", "two"], "and is written within the delay though traffic stopped");

  const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(40)}\n`);
  for (const line of lines) destination.write(line);
  await wait(150);
  t.same(
    read().slice(2),
    lines.map((line) => line.trimEnd()),
    "every line once, in order, across batches",
  );

  destination.write("last\n");
  destination.flushSync();
  t.equal(read().at(-1), "last", "a flush on shutdown writes what is pending at once");
});
