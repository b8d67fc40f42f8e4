// `pnpm test [paths...]`: every test file (or the given files/folders) through tap, against a
// real Postgres: DATABASE_URL when set, otherwise a throwaway embedded one for this run.
// Ends with the failed tests, each with the start of its diff or error (the end of the output is
// what CI shows), then one line `N passed, N failed[, N skipped]` counting the top-level tests of
// every file.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "@parley/testing/embedded-postgres";
import { Parser, type Result } from "tap-parser";

const root = path.resolve(import.meta.dirname, "..");

/** Test files under a folder (tap itself only expands its configured `include` globs). */
const testFilesIn = (target: string): string[] =>
  statSync(target).isDirectory()
    ? readdirSync(target, { recursive: true, encoding: "utf8" })
        .filter((file) => file.endsWith(".test.ts") && !file.split(path.sep).includes("node_modules"))
        .map((file) => path.join(target, file))
    : [target];
// No arguments: tap runs every file its `include` config (package.json) names.
const targets = process.argv.slice(2).flatMap(testFilesIn);

const env = { ...process.env };
// Tap runs two files at once (`jobs` in package.json: its default leaves one core free, which on
// a 2-core machine is one file at a time, though the files mostly wait on their services) and a
// file may start every service: at their own pool size (20) the services of two files can ask a
// default Postgres for more than its 100 connections ("too many clients", seen in CI). Services
// started by tests keep small pools.
env.DATABASE_POOL_MAX ??= "5";
// Tests sign in far more often than people do, and password hashing runs at nice 19 and, at auth's
// default share (an eighth), rests after each hash for 7 times the hash's wall time: while the
// other file keeps the cores busy, a hash stretches many times over and its rest with it (on one
// core, services/auth/test/login.test.ts ran past tap's 180 s). So every auth the tests run, in
// their own process or in a platform they launch, hashes without rests; the share is tested with
// hashers of its own (passwords.test.ts) and measured at its default by bench:edge.
env.PASSWORD_HASHING_SHARE ??= "1";
// And at ordinary priority: two files' platforms can keep every core busy, and a hash at nice 19
// then waits without bound (on one core a login's hash ran past the edge's 10-s deadline).
env.PASSWORD_HASHING_NICE ??= "0";
// The services the tests launch run as production runs them, from their bundles (plain node, no
// tsx): built here, so they are never older than the sources. A bundle starts in half the CPU
// time, and a run starts some 160 services.
// TEST_SERVICES_BUILT=0 runs the sources instead.
env.TEST_SERVICES_BUILT ??= "1";
if (env.TEST_SERVICES_BUILT === "1") {
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) {
    process.stdout.write("pnpm build failed: no test ran\n0 passed, 1 failed\n");
    process.exit(1);
  }
}
// The ports the run's processes hand out (@parley/testing's freePort): no two files get the same.
const portClaimsDir = env.TEST_PORT_CLAIMS_DIR
  ? undefined
  : mkdtempSync(path.join(tmpdir(), "parley-test-ports-"));
if (portClaimsDir) env.TEST_PORT_CLAIMS_DIR = portClaimsDir;
let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
let embeddedDir: string | undefined;
if (!env.DATABASE_URL) {
  // A cluster of its own per run, so two runs (or `pnpm start`) never share one.
  embeddedDir = mkdtempSync(path.join(tmpdir(), "parley-test-pg-"));
  chmodSync(embeddedDir, 0o755); // as root, Postgres runs as the `postgres` user and must reach it
  process.stdout.write(`DATABASE_URL is not set: starting an embedded PostgreSQL in ${embeddedDir}\n`);
  embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, "data"), durable: false });
  env.DATABASE_URL = embedded.url;
}
if (!env.REDIS_URL) process.stdout.write("REDIS_URL is not set: tests that need Redis are skipped\n");

// tap compiles its plugin set into node_modules; we drop its TypeScript plugin (tsx loads .ts).
// Rebuild only while the built set still has it, so concurrent runs never rebuild under each other.
const resolveFrom = (from: string, id: string) => createRequire(from).resolve(id);
const tapTest = resolveFrom(
  resolveFrom(resolveFrom(path.join(root, "package.json"), "tap/package.json"), "@tapjs/run/package.json"),
  "@tapjs/test/package.json",
);
const builtPlugins = readFileSync(path.join(path.dirname(tapTest), "test-built/src/index.ts"), "utf8");
if (builtPlugins.includes("@tapjs/typescript")) {
  spawnSync("pnpm", ["exec", "tap", "build"], { cwd: root, stdio: "ignore" });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
let lastFileFailures = 0;
const parser = new Parser();
parser.on("child", (file: Parser) => {
  file.on("complete", (results) => {
    totals.passed += results.pass - results.skip - results.todo;
    totals.failed += results.fail;
    totals.skipped += results.skip + results.todo;
    lastFileFailures = results.fail;
  });
});
// Every failed test point at any depth, by its full name (file > test > assertion).
const failures: Result[] = [];
const collectFailures = (level: Parser) => {
  level.on("child", collectFailures);
  level.on("assert", (result: Result) => {
    if (!result.ok && !result.todo && !result.skip) failures.push(result);
  });
};
collectFailures(parser);
parser.on("assert", (fileResult: Result) => {
  // A file that crashed or timed out may report no failing test of its own: count the file.
  if (!fileResult.ok && lastFileFailures === 0) totals.failed += 1;
});

const tap = spawn("pnpm", ["exec", "tap", "--reporter=tap", ...targets], {
  cwd: root,
  env,
  stdio: ["ignore", "pipe", "inherit"],
});
tap.stdout.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  parser.write(chunk);
});
const exitCode = await new Promise<number>((resolve) => tap.once("exit", (code) => resolve(code ?? 1)));
parser.end();
await embedded?.stop();
if (embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
if (portClaimsDir) rmSync(portClaimsDir, { recursive: true, force: true });

// A failed subtest fails its parents too: name only the deepest failures.
const deepest = failures.filter(
  (failure) => !failures.some((other) => other.fullname.startsWith(`${failure.fullname} > `)),
);
/**
 * A failure's own account, shortened: the diff of what was found against what was wanted, or
 * the error, so the end of the output (all CI shows) says what went wrong, not only where.
 */
function whatWentWrong(failure: Result): string[] {
  const diag = (failure.diag ?? {}) as Record<string, unknown>;
  const told = [diag.diff, diag.error, diag.message, diag.stack].find(
    (value): value is string => typeof value === "string" && value.trim() !== "",
  );
  const text =
    told ??
    ("found" in diag || "wanted" in diag
      ? `found: ${JSON.stringify(diag.found)}\nwanted: ${JSON.stringify(diag.wanted)}`
      : "");
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const shown = lines.slice(0, 12).map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line));
  if (lines.length > shown.length)
    shown.push(`… ${lines.length - shown.length} more lines above the summary`);
  return shown;
}

if (deepest.length > 0) process.stdout.write("\nFailed:\n");
for (const failure of deepest) {
  const at = failure.diag?.at;
  const where = at?.fileName ? ` (${path.basename(at.fileName)}:${at.lineNumber})` : "";
  process.stdout.write(`  not ok: ${failure.fullname}${where}\n`);
  for (const line of whatWentWrong(failure)) process.stdout.write(`      ${line}\n`);
}
const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : "";
process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed${skipped}\n`);
process.exit(exitCode === 0 && totals.failed === 0 ? 0 : 1);
