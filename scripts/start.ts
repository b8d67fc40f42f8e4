// `pnpm start`: the whole platform on this machine. Embedded Postgres under .data/postgres
// when DATABASE_URL is unset (kept between runs), local secrets generated once into
// .data/local-secrets.json, every service and the edge with readable logs, demo data, and
// the URLs and credentials printed. Ctrl-C stops everything in reverse order.
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  generateSecrets,
  launchPlatform,
  type PlatformSecrets,
  REPO_ROOT,
  type ServiceName,
} from "@parley/testing";
import { startEmbeddedPostgres } from "@parley/testing/embedded-postgres";
import pretty from "pino-pretty";
import { buildConsole } from "../packages/console/build.mjs";
import { demoAccounts, seedDemoData } from "./seed";

const DATA = path.join(REPO_ROOT, ".data");
const PORTS: Record<ServiceName, number> = {
  auth: 50051,
  user: 50052,
  session: 50053,
  billing: 50054,
  edge: 8080,
};
const COLOURS: Record<ServiceName, string> = {
  auth: "35",
  user: "36",
  session: "33",
  billing: "32",
  edge: "34",
};

/** The secrets kept under .data; one added since the file was written is generated into it. */
async function localSecrets(): Promise<PlatformSecrets> {
  const file = path.join(DATA, "local-secrets.json");
  const kept = existsSync(file) ? (JSON.parse(await readFile(file, "utf8")) as Partial<PlatformSecrets>) : {};
  const secrets = { ...generateSecrets(), ...kept };
  if (Object.keys(secrets).every((key) => key in kept)) return secrets;
  await mkdir(DATA, { recursive: true });
  await writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return secrets;
}

/** One pretty printer per service, each line prefixed with the service's name in its colour. */
const printers = new Map<ServiceName, ReturnType<typeof pretty>>();
function printLine(service: ServiceName, line: string) {
  let printer = printers.get(service);
  if (!printer) {
    printer = pretty({
      colorize: process.stdout.isTTY,
      ignore: "pid,hostname,service,name",
      translateTime: "HH:MM:ss",
      messageFormat: `\u001b[${COLOURS[service]}m${service.padEnd(7)}\u001b[0m {msg}`,
      destination: 1,
    });
    printers.set(service, printer);
  }
  if (line.startsWith("{")) printer.write(`${line}\n`);
  else process.stdout.write(`${service.padEnd(7)} ${line}\n`);
}

/** EMBEDDED_PG_PORT, 54329 when unset or empty; anything but a port is refused, saying so. */
function embeddedPort(): number {
  const given = process.env.EMBEDDED_PG_PORT?.trim() || "54329";
  const port = Number(given);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new Error(`EMBEDDED_PG_PORT must be a port number (1–65535), not ${JSON.stringify(given)}`);
  return port;
}

/**
 * The embedded Postgres, its own signal hooks taken off: the library stops every cluster on
 * SIGINT/SIGTERM and exits, which would stop the database under the services still draining.
 * `stop` below stops the services first, then the database.
 */
async function embeddedPostgres() {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  try {
    return await startEmbeddedPostgres({ dataDir: path.join(DATA, "postgres"), port: embeddedPort() });
  } finally {
    for (const signal of signals)
      for (const listener of process.listeners(signal))
        if (!before.get(signal)!.has(listener)) process.off(signal, listener);
  }
}

const secrets = await localSecrets();
let databaseUrl = process.env.DATABASE_URL;
let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
let platform: Awaited<ReturnType<typeof launchPlatform>> | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write("\nStopping Parley…\n");
  await platform?.stop();
  await embedded?.stop();
  process.exit(code);
};
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
// The terminal closed: stopped as well, the database last (not left running on its port).
process.on("SIGHUP", () => void stop(0));

try {
  if (!databaseUrl) {
    embedded = await embeddedPostgres();
    databaseUrl = embedded.url;
  }
  // The web console the edge serves at /console, rebuilt only when its sources changed.
  await buildConsole();
  platform = await launchPlatform({
    databaseUrl,
    ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    secrets,
    ports: PORTS,
    env: {
      edge: {
        CORS_ORIGINS: process.env.CORS_ORIGINS ?? "http://localhost:3000,http://localhost:5173",
        // The console's one-click sign-ins, and its top-ups paid through the development provider.
        CONSOLE_DEMO_ACCOUNTS: JSON.stringify(
          demoAccounts({ email: secrets.adminEmail, password: secrets.adminPassword }),
        ),
        CONSOLE_DEVELOPMENT_CHECKOUT: "true",
      },
    },
    onLine: printLine,
  });
  const seeded = await seedDemoData({
    grpc: platform.grpc,
    admin: { email: secrets.adminEmail, password: secrets.adminPassword },
  });
  const http = `http://localhost:${PORTS.edge}`;
  const rows = [seeded.admin, ...seeded.experts, seeded.user];
  process.stdout.write(`
Parley is running.
  Console       ${http}/console/  (sign in with one click as any demo account below)
  HTTP API      ${http}           WebSocket ${http.replace("http", "ws")}/v1/ws
  API docs      ${http}/docs      OpenAPI   ${http}/openapi.json
  gRPC          auth ${platform.grpc.auth}  user ${platform.grpc.user}  session ${platform.grpc.session}  billing ${platform.grpc.billing}
  Postgres      ${embedded ? `embedded, data in .data/postgres (port ${new URL(databaseUrl).port})` : "DATABASE_URL"}
  Redis         ${process.env.REDIS_URL ?? "not set: in-process bus, presence and counters"}
  Notifications in-app (GET ${http}/v1/me/notifications, the watch_me WebSocket frame) and Web Push
                (VAPID keys in .data/local-secrets.json); emails are printed in the user service's log
                lines above ("email (no SMTP_URL…)") unless SMTP_URL is set for it
  Webhook       POST ${http}/v1/webhooks/payments/development, secret in .data/local-secrets.json
                (Stripe, Razorpay, RazorpayX: POST ${http}/v1/webhooks/{stripe,razorpay,razorpayx}, keys in billing's env)

Demo accounts (email / password):
${rows
  .map(
    (r) =>
      `  ${r.name.padEnd(12)} ${r.email.padEnd(22)} ${seeded.left.includes(r.email) ? "(changed since it was seeded: left as it is)" : r.password}`,
  )
  .join("\n")}
  Priya's wallet holds ₹500; the experts are Asha (vedic, tarot), Ravi (numerology), Meera (career).
  Experts read as online while their app holds a WebSocket open (presence heartbeats).

Try: curl -s ${http}/v1/experts | head -c 400
Ctrl-C stops everything.
`);
} catch (error) {
  process.stderr.write(`\nParley did not start: ${error instanceof Error ? error.message : String(error)}\n`);
  await stop(1);
}
