#!/usr/bin/env node
// `pnpm build [service...]`: each service (every one by default) bundled by esbuild into
// services/<name>/dist/main.js (and dist/migrate.js, which applies its migrations and exits),
// run with plain `node` (no tsx, no TypeScript); with no service named, the web console too
// (packages/console/dist, built by Vite when its sources changed; the edge serves it).
//
// The bundle inlines the workspace packages (@parley/kit, @parley/proto): they are TypeScript
// sources, compiled in, so they are build-time dependencies of a service. Every other package
// stays external and is loaded from node_modules at run time, so each one the bundle imports
// must be in the service's own `dependencies` (what `pnpm deploy --prod` installs): the build
// fails naming any that is not. A module that names a file beside itself with
// `new URL("./x", import.meta.url)` gets it in the bundle's folder: a TypeScript module (a worker
// thread's, like auth's hashing thread) is bundled as dist/x.js, any other file (the proto
// descriptor set) is copied under dist/assets.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
const all = readdirSync(path.join(root, "services")).filter((name) =>
  existsSync(path.join(root, "services", name, "src/main.ts")),
);
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`No such service: ${unknown.join(", ")} (services: ${all.join(", ")})`);
  process.exit(1);
}

const builtins = new Set(builtinModules);
const packageName = (specifier) => specifier.split("/", specifier.startsWith("@") ? 2 : 1).join("/");
const siblingUrl = /new URL\("(\.\/[^"]+)", import\.meta\.url\)/g;
const isSource = (file) => file.endsWith(".ts") && !file.split(path.sep).includes("node_modules");
/** The bundle's name for a TypeScript module named beside another: `hashing-thread.js`. */
const bundledName = (file) => `${path.basename(file, ".ts")}.js`;

/** TypeScript modules the sources name with `new URL("./x.ts", import.meta.url)`: extra entry points. */
const siblingModules = (dirs) =>
  dirs.flatMap((dir) =>
    readdirSync(dir, { recursive: true, encoding: "utf8" })
      .map((file) => path.join(dir, file))
      .filter(isSource)
      .flatMap((file) =>
        [...readFileSync(file, "utf8").matchAll(siblingUrl)]
          .map(([, relative]) => path.resolve(path.dirname(file), relative))
          .filter((target) => target.endsWith(".ts")),
      ),
  );

/** Keeps third-party packages external, refusing any the service does not declare. */
const externals = (declared, missing) => ({
  name: "parley-externals",
  setup(esbuild) {
    esbuild.onResolve({ filter: /^[^./]/ }, ({ path: specifier, importer }) => {
      if (specifier.startsWith("node:") || builtins.has(specifier)) return { external: true };
      const name = packageName(specifier);
      if (name.startsWith("@parley/")) return undefined;
      if (!declared.has(name)) missing.add(`${name} (imported by ${path.relative(root, importer)})`);
      return { external: true };
    });
  },
});

/** Points each `new URL("./x", import.meta.url)` at the bundled module or the copied asset. */
const assets = (outdir) => ({
  name: "parley-assets",
  setup(esbuild) {
    esbuild.onLoad({ filter: /\.ts$/ }, ({ path: file }) => {
      if (!isSource(file)) return undefined;
      const source = readFileSync(file, "utf8");
      if (!source.includes("import.meta.url")) return undefined;
      const contents = source.replace(siblingUrl, (_, relative) => {
        const asset = path.resolve(path.dirname(file), relative);
        if (asset.endsWith(".ts"))
          return `new URL(${JSON.stringify(`./${bundledName(asset)}`)}, import.meta.url)`;
        const target = path.join("assets", path.relative(path.join(root, "packages"), asset));
        mkdirSync(path.dirname(path.join(outdir, target)), { recursive: true });
        copyFileSync(asset, path.join(outdir, target));
        return `new URL(${JSON.stringify(`./${target.split(path.sep).join("/")}`)}, import.meta.url)`;
      });
      return { contents, loader: "ts" };
    });
  },
});

// The workspace packages a bundle compiles in (packages/testing is for tests only).
const workspaceSources = ["kit", "proto"].map((name) => path.join(root, "packages", name, "src"));
let failed = false;
for (const name of wanted.length > 0 ? wanted : all) {
  const dir = path.join(root, "services", name);
  const outdir = path.join(dir, "dist");
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  const missing = new Set();
  rmSync(outdir, { recursive: true, force: true });
  const started = performance.now();
  await build({
    entryPoints: [
      ...["main", "migrate"]
        .map((entry) => path.join(dir, "src", `${entry}.ts`))
        .filter((entry) => existsSync(entry)),
      ...siblingModules([path.join(dir, "src"), ...workspaceSources]),
    ].map((entry) => ({ in: entry, out: path.basename(entry, ".ts") })),
    outdir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    sourcesContent: false,
    legalComments: "none",
    logLevel: "warning",
    plugins: [externals(new Set(Object.keys(manifest.dependencies ?? {})), missing), assets(outdir)],
  });
  if (missing.size > 0) {
    failed = true;
    console.error(
      `${name}: add to services/${name}/package.json "dependencies" (the bundle loads them at run time):\n  ${[...missing].join("\n  ")}`,
    );
    continue;
  }
  console.log(`${name.padEnd(8)} services/${name}/dist (${Math.round(performance.now() - started)} ms)`);
}
if (failed) process.exit(1);
if (wanted.length === 0) {
  const { buildConsole } = await import("../packages/console/build.mjs");
  await buildConsole();
}
