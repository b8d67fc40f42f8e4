import { createECDH, randomBytes, randomUUID } from "node:crypto";
import type { Test } from "tap";
import { createTestDatabase } from "./database";
import { freePort } from "./ports";
import { killChildrenOnSignals, type LaunchedService, launchService, type ServiceCommand } from "./spawn";

export const SERVICES = ["auth", "user", "billing", "session", "edge"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Every secret a running platform needs; generated per test run, kept under .data by `pnpm start`. */
export interface PlatformSecrets {
  signingKeySecret: string;
  /** PAGE_TOKEN_SECRET of every service with List RPCs. */
  pageTokenSecret: string;
  /** Each service's secret towards auth (SERVICE_CREDENTIALS). */
  services: Record<Exclude<ServiceName, "auth">, string>;
  webhookSecret: string;
  /** Billing's PAYOUT_ENCRYPTION_KEY (32 bytes, base64): seals experts' payout details. */
  payoutEncryptionKey: string;
  /** The user service's Web Push (VAPID) key pair, base64url (P-256: 65-byte public, 32-byte private). */
  vapidPublicKey: string;
  vapidPrivateKey: string;
  adminEmail: string;
  adminPassword: string;
}

const secret = () => randomBytes(24).toString("base64url");

/** A VAPID key pair (RFC 8292): an ECDH P-256 key, both halves base64url. */
function vapidKeys() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return {
    vapidPublicKey: ecdh.getPublicKey().toString("base64url"),
    vapidPrivateKey: Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()])
      .subarray(-32)
      .toString("base64url"),
  };
}

export function generateSecrets(): PlatformSecrets {
  return {
    signingKeySecret: secret(),
    pageTokenSecret: secret(),
    services: { user: secret(), billing: secret(), session: secret(), edge: secret() },
    webhookSecret: secret(),
    payoutEncryptionKey: randomBytes(32).toString("base64"),
    ...vapidKeys(),
    adminEmail: "admin@parley.local",
    adminPassword: `admin-${secret().slice(0, 12)}`,
  };
}

export interface PlatformOptions {
  databaseUrl: string;
  redisUrl?: string;
  /** Keeps this platform's Redis counters apart from others on the same Redis (tests). */
  redisKeyPrefix?: string;
  secrets: PlatformSecrets;
  /** Fixed ports (`pnpm start`); free ones when absent (tests). */
  ports?: Partial<Record<ServiceName, number>>;
  /** Extra environment per service (short billing minutes in tests, log levels). */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  onLine?: (service: ServiceName, line: string) => void;
  /** Each service's entry point (the built ones, in the production-shape test); the sources by default. */
  command?: (service: ServiceName) => ServiceCommand;
  /**
   * Instances of each service (1 by default; auth and user stay 1). Callers of a replicated
   * service get every instance as a static list (`ipv4:127.0.0.1:p1,127.0.0.1:p2`, round robin).
   */
  replicas?: Partial<Record<"billing" | "session" | "edge", number>>;
}

export interface Platform {
  grpc: Record<Exclude<ServiceName, "edge">, string>;
  /** The edge's base URL, `http://127.0.0.1:<port>`. */
  httpUrl: string;
  /** Each running service (its child process), for fault tests that watch or stop one; the first instance. */
  services: Record<ServiceName, LaunchedService>;
  /** Every instance of each service (several with `replicas`). */
  instances: Record<ServiceName, LaunchedService[]>;
  /** Every edge's base URL, in the order of `instances.edge`. */
  httpUrls: string[];
  stop(): Promise<void>;
}

const edgeListeningPort = (line: string): number | undefined => {
  if (!line.includes("edge listening")) return undefined;
  const match = /"port":(\d+)/.exec(line);
  return match ? Number(match[1]) : undefined;
};

/**
 * Starts the whole platform as child processes in dependency order: user and billing (each
 * finds auth's keys on first use), auth (which reaches user for profiles), session, edge.
 * Every service migrates its own schema at start. `stop()` ends them in reverse order.
 */
export async function launchPlatform(options: PlatformOptions): Promise<Platform> {
  const { secrets } = options;
  const ports = { ...options.ports };
  const authPort = ports.auth ?? (await freePort());
  const authAddress = `127.0.0.1:${authPort}`;
  const started: LaunchedService[] = [];
  const common = {
    DATABASE_URL: options.databaseUrl,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.redisKeyPrefix ? { REDIS_KEY_PREFIX: options.redisKeyPrefix } : {}),
    AUTH_ADDRESS: authAddress,
  };
  const count = (name: ServiceName) =>
    name === "billing" || name === "session" || name === "edge" ? (options.replicas?.[name] ?? 1) : 1;
  /** The address callers use: one instance's, or gRPC's static list of them all. */
  const addressOf = (services: LaunchedService[]) =>
    services.length === 1 ? services[0]!.address : `ipv4:${services.map((s) => s.address).join(",")}`;
  const launchAll = (name: ServiceName, env: Record<string, string>) =>
    Promise.all(Array.from({ length: count(name) }, () => launch(name, env)));
  const launch = async (name: ServiceName, env: Record<string, string>): Promise<LaunchedService> => {
    const service: LaunchedService = await launchService(
      name,
      {
        ...common,
        ...(name === "auth" ? {} : { SERVICE_NAME: name, SERVICE_SECRET: secrets.services[name] }),
        ...(name === "edge" ? {} : { PAGE_TOKEN_SECRET: secrets.pageTokenSecret }),
        ...(ports[name] !== undefined && name !== "edge" ? { GRPC_PORT: String(ports[name]) } : {}),
        ...env,
        ...options.env?.[name],
      },
      {
        onLine: (line) => options.onLine?.(name, line),
        ...(name === "edge" ? { readyPort: edgeListeningPort } : {}),
        timeoutMs: 60_000,
        ...(options.command ? { command: options.command(name) } : {}),
      },
    );
    started.push(service);
    // The same service again on the same port (after a fault test killed it); stopped with the rest.
    service.respawn = () =>
      launch(name, { ...env, [name === "edge" ? "HTTP_PORT" : "GRPC_PORT"]: String(service.port) });
    return service;
  };
  const stop = async () => {
    for (const service of started.reverse()) await service.stop();
  };
  try {
    // Billing reaches user (its notification relay) from the start: user's port is chosen first.
    const userPort = ports.user ?? (await freePort());
    // Auth reaches session (the back office ends a suspended person's sessions): session's ports
    // are chosen first.
    const sessionPorts: number[] = [];
    if (ports.session !== undefined) sessionPorts.push(ports.session);
    else
      while (sessionPorts.length < count("session")) {
        const port = await freePort();
        if (!sessionPorts.includes(port)) sessionPorts.push(port);
      }
    const session =
      sessionPorts.length === 1
        ? `127.0.0.1:${sessionPorts[0]}`
        : `ipv4:${sessionPorts.map((port) => `127.0.0.1:${port}`).join(",")}`;
    const [user, billings] = await Promise.all([
      launch("user", {
        GRPC_PORT: String(userPort),
        VAPID_PUBLIC_KEY: secrets.vapidPublicKey,
        VAPID_PRIVATE_KEY: secrets.vapidPrivateKey,
      }),
      launchAll("billing", {
        USER_ADDRESS: `127.0.0.1:${userPort}`,
        PAYOUT_ENCRYPTION_KEY: secrets.payoutEncryptionKey,
      }),
    ]);
    const billing = addressOf(billings);
    const auth = await launch("auth", {
      GRPC_PORT: String(authPort),
      SIGNING_KEY_SECRET: secrets.signingKeySecret,
      SERVICE_CREDENTIALS: Object.entries(secrets.services)
        .map(([name, value]) => `${name}:${value}`)
        .join(","),
      USER_ADDRESS: user.address,
      SESSION_ADDRESS: session,
      BILLING_ADDRESS: billing,
      BOOTSTRAP_ADMIN_EMAIL: secrets.adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: secrets.adminPassword,
    });
    const sessions = await Promise.all(
      sessionPorts.map((port) =>
        launch("session", { GRPC_PORT: String(port), USER_ADDRESS: user.address, BILLING_ADDRESS: billing }),
      ),
    );
    const edges = await launchAll("edge", {
      HTTP_PORT: String(ports.edge ?? 0),
      HTTP_HOST: "127.0.0.1",
      USER_ADDRESS: user.address,
      BILLING_ADDRESS: billing,
      SESSION_ADDRESS: session,
      WEBHOOK_SECRET: secrets.webhookSecret,
    });
    const httpUrls = edges.map((edge) => `http://127.0.0.1:${edge.port}`);
    return {
      grpc: { auth: auth.address, user: user.address, billing, session },
      httpUrl: httpUrls[0]!,
      httpUrls,
      services: { auth, user, billing: billings[0]!, session: sessions[0]!, edge: edges[0]! },
      instances: { auth: [auth], user: [user], billing: billings, session: sessions, edge: edges },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface TestPlatformOptions {
  /** The services reach the test's database through this (a fault test's proxy); as is by default. */
  databaseUrl?: (url: string) => string;
  /** Another Redis than REDIS_URL (a fault test's throwaway server). */
  redisUrl?: string;
  /** Every line each service prints (stdout and stderr). */
  onLine?: PlatformOptions["onLine"];
  command?: PlatformOptions["command"];
  replicas?: PlatformOptions["replicas"];
}

/**
 * The whole platform for one test: a fresh database, fresh secrets, Redis (when REDIS_URL is
 * set) under a key prefix of this run's own, stopped when the test ends.
 */
export async function launchTestPlatform(
  t: Test,
  env: PlatformOptions["env"] = {},
  options: TestPlatformOptions = {},
): Promise<{ platform: Platform; secrets: PlatformSecrets; databaseUrl: string }> {
  killChildrenOnSignals();
  const { url: databaseUrl } = await createTestDatabase(t);
  const secrets = generateSecrets();
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
  const platform = await launchPlatform({
    databaseUrl: options.databaseUrl?.(databaseUrl) ?? databaseUrl,
    ...(redisUrl ? { redisUrl, redisKeyPrefix: `parley-test-${randomUUID()}:` } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
    ...(options.command ? { command: options.command } : {}),
    ...(options.replicas ? { replicas: options.replicas } : {}),
    secrets,
    // Readiness is read from the services' info lines, so TEST_LOG_LEVEL goes no quieter.
    env: Object.fromEntries(
      SERVICES.map((name) => [name, { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info", ...env[name] }]),
    ),
  });
  t.teardown(platform.stop);
  return { platform, secrets, databaseUrl };
}
