#!/usr/bin/env node
// Builds the console into packages/console/dist with Vite, only when its sources changed since
// the last build: a hash of every input (src/, index.html, vite.config.ts, package.json) is kept
// in dist/.inputs-hash. `pnpm build`, `pnpm start` and the browser test call it; a fresh build
// takes a second or two, a check a few milliseconds. `--force` rebuilds regardless.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const here = import.meta.dirname;
export const CONSOLE_DIST = path.join(here, "dist");
const HASH_FILE = path.join(CONSOLE_DIST, ".inputs-hash");

function inputsHash() {
  const files = [
    "index.html",
    "vite.config.ts",
    "package.json",
    ...readdirSync(path.join(here, "src"), { recursive: true, encoding: "utf8" }).map((file) =>
      path.join("src", file),
    ),
  ]
    .filter((file) => !file.endsWith(path.sep) && existsSync(path.join(here, file)))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    const full = path.join(here, file);
    try {
      hash.update(file).update("\0").update(readFileSync(full)).update("\0");
    } catch (error) {
      if (error.code !== "EISDIR") throw error;
    }
  }
  return hash.digest("hex");
}

/** Builds when stale (or forced); says what it did. */
export async function buildConsole({ force = false, quiet = false } = {}) {
  const wanted = inputsHash();
  const built = existsSync(HASH_FILE) ? readFileSync(HASH_FILE, "utf8").trim() : "";
  if (!force && built === wanted && existsSync(path.join(CONSOLE_DIST, "index.html"))) {
    if (!quiet) console.log("console  packages/console/dist (up to date)");
    return { built: false };
  }
  const started = performance.now();
  const { build } = await import("vite");
  await build({ configFile: path.join(here, "vite.config.ts") });
  writeFileSync(HASH_FILE, `${wanted}\n`);
  if (!quiet) console.log(`console  packages/console/dist (${Math.round(performance.now() - started)} ms)`);
  return { built: true };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await buildConsole({ force: process.argv.includes("--force") });
}
