#!/usr/bin/env node
// Regenerates packages/proto from protos/: ts-proto stubs (buf.gen.yaml) and the binary
// descriptor set (with comments) that the edge reads to build HTTP routes and OpenAPI,
// and the services' caller rules (scripts/permissions.ts), then the console's API types from the
// OpenAPI document those make (packages/console/scripts/openapi-types.ts).
// `--check` regenerates and fails when that changed any committed file.
import { execFileSync } from "node:child_process";

const run = (cmd, args) => execFileSync(cmd, args, { stdio: "inherit" });

run("buf", ["generate"]);
run("buf", ["build", "-o", "packages/proto/src/descriptors.binpb"]);
// Who may call each RPC, from the services' permission maps (the edge documents it).
run(process.execPath, ["--import", "tsx", "scripts/permissions.ts"]);
// The console's typed HTTP client: the edge's /openapi.json as TypeScript.
run(process.execPath, ["--import", "tsx", "packages/console/scripts/openapi-types.ts"]);

if (process.argv.includes("--check")) {
  const changed = execFileSync(
    "git",
    ["status", "--porcelain", "--", "packages/proto", "packages/console/src/api/openapi.d.ts"],
    {
      encoding: "utf8",
    },
  );
  if (changed.trim()) {
    console.error(`Generated code is stale; run \`pnpm gen\` and commit:\n${changed}`);
    process.exit(1);
  }
}
