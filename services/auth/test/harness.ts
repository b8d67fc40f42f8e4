import { credentials, Metadata } from "@grpc/grpc-js";
import { createTokenVerifier, type TokenVerifier } from "@parley/kit/auth";
import { parseNetworkList } from "@parley/kit/config";
import { createDatabase } from "@parley/kit/db";
import { type CallOptions, createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import {
  AuthServiceClient,
  AuthServiceService,
  type LoginResponse,
  type TokenPair,
} from "@parley/proto/parley/auth/v1/auth";
import { createTestClock, createTestDatabase, startTestServer, type TestClock } from "@parley/testing";
import postgres from "postgres";
import type { Test } from "tap";
import { type AuthPolicy, DEFAULT_POLICY } from "../src/domain/policy";
import type { AttemptLimiter, SyncedUsers } from "../src/domain/ports";
import type { AuthDomain } from "../src/grpc/handlers";
import { createPostgresAttemptLimiter } from "../src/persistence/attempts";
import { AUTH_MIGRATIONS, createAuthService, localIdentity } from "../src/server";

export type AuthClient = ServiceClient<typeof AuthServiceService>;

export const ISSUER = "https://auth.parley.test";
export const AUDIENCE = "parley";
export const SIGNING_KEY_SECRET = "test-signing-key-secret-of-32-chars-or-more";
export const SERVICE_SECRETS = new Map([
  ["session", "session-secret-0123456789"],
  ["user", "user-secret-0123456789abc"],
  ["edge", "edge-secret-0123456789abc"],
]);
/** session's second secret, as during a rotation (SERVICE_CREDENTIALS lists session twice). */
export const SESSION_ROTATED_SECRET = "session-secret-rotated-0123";
export const PASSWORD = "correct horse battery staple";

export interface Harness {
  client: AuthClient;
  /** A plain generated client, for calls that state the end client's address as the edge does (x-client-ip). */
  plain: AuthServiceClient;
  address: string;
  domain: AuthDomain;
  sql: postgres.Sql;
  databaseUrl: string;
  clock: TestClock;
  /** Verifies access tokens against auth's own GetJwks, as every service does. */
  verifier: TokenVerifier;
  /** Registers a new person by email; returns the account id and first token pair. */
  register(options?: {
    email?: string;
    password?: string;
  }): Promise<{ userId: string; email: string; tokens: TokenPair }>;
  bearer(tokens: TokenPair | string): CallOptions;
  /** Signs in with a password; fails if a second factor is asked for. */
  login(identifier: string, password?: string): Promise<TokenPair>;
  /** Logs in from another device: the address and user agent the edge states for its client. */
  loginFrom(device: { ip: string; userAgent: string }, identifier: string): Promise<LoginResponse>;
  /** An account made admin directly in the database (the bootstrap path), signed in. */
  admin(): Promise<{ userId: string; call: CallOptions }>;
  serviceCall(service: string): Promise<CallOptions>;
}

let counter = 0;
export const uniqueEmail = () => `person-${process.pid}-${Date.now()}-${++counter}@example.com`;

/** One real database, the auth service on a free port, an injectable clock, attempt counters in Postgres. */
export async function startHarness(
  t: Test,
  options: {
    policy?: Partial<AuthPolicy>;
    syncedUsers?: SyncedUsers;
    keyActivationDelaySeconds?: number;
    /** SIGNING_KEY_SECRET (the harness's own by default) and SIGNING_KEY_SECRET_PREVIOUS. */
    signingKeySecret?: string;
    previousSigningKeySecrets?: string[];
    /** Another harness's database, as a restarted auth finds it; a new one by default. */
    databaseUrl?: string;
    /** Wraps the Postgres attempt counters (to watch the calls made to them). */
    limiter?: (postgres: AttemptLimiter) => AttemptLimiter;
  } = {},
): Promise<Harness> {
  const url = options.databaseUrl ?? (await createTestDatabase(t, { migrations: [AUTH_MIGRATIONS] })).url;
  const database = createDatabase(url, { max: 20 });
  t.teardown(database.close);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));
  const clock = createTestClock(new Date());
  const now = () => clock.now;
  const { domain, binding } = createAuthService({
    sql: database.sql,
    limiter: (options.limiter ?? ((postgres) => postgres))(createPostgresAttemptLimiter(database.sql, now)),
    syncedUsers: options.syncedUsers ?? { lookup: async () => undefined },
    policy: { ...DEFAULT_POLICY, ...options.policy },
    signingKeySecret: options.signingKeySecret ?? SIGNING_KEY_SECRET,
    previousSigningKeySecrets: options.previousSigningKeySecrets,
    serviceCredentials: new Map(
      [...SERVICE_SECRETS].map(([name, secret]) => [
        name,
        name === "session" ? [secret, SESSION_ROTATED_SECRET] : [secret],
      ]),
    ),
    issuer: ISSUER,
    audience: AUDIENCE,
    keyActivationDelaySeconds: options.keyActivationDelaySeconds ?? 60,
    keyRotationDays: 30,
    trustedPeers: parseNetworkList("127.0.0.0/8,::1/128"),
    now,
  });
  await domain.keys.maintain();
  const { address } = await startTestServer(t, {
    name: "auth",
    services: [binding],
    authenticate: localIdentity(domain, ISSUER, AUDIENCE, now).authenticate,
  });
  const client = createServiceClient(AuthServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => client.close());
  const plain = new AuthServiceClient(address, credentials.createInsecure());
  t.teardown(() => plain.close());
  const verifier = createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    refreshCooldownMs: 0,
    now,
    fetchJwks: async () => ({ keys: (await client.getJwks({})).keys.map((k) => ({ ...k })) }),
  });
  const bearer = (tokens: TokenPair | string): CallOptions => ({
    bearerToken: typeof tokens === "string" ? tokens : tokens.accessToken,
  });
  const harness: Harness = {
    client,
    plain,
    address,
    domain,
    sql,
    databaseUrl: url,
    clock,
    verifier,
    bearer,
    async register({ email = uniqueEmail(), password = PASSWORD } = {}) {
      const { account, tokens } = await client.register({
        email,
        phone: "",
        password,
        displayName: "",
        deviceName: "test",
      });
      return { userId: account!.userId, email, tokens: tokens! };
    },
    async admin() {
      const person = await harness.register();
      await sql`update auth.accounts set role = 'admin' where id = ${person.userId}`;
      const tokens = await harness.login(person.email);
      return { userId: person.userId, call: bearer(tokens) };
    },
    async serviceCall(service) {
      const { accessToken } = await client.issueServiceToken({
        serviceName: service,
        secret: SERVICE_SECRETS.get(service)!,
      });
      return bearer(accessToken);
    },
    async login(identifier, password = PASSWORD) {
      const response = await client.login({ identifier, password, deviceName: "test" });
      if (response.result?.$case !== "tokens") throw new Error("expected tokens, got an MFA challenge");
      return response.result.value;
    },
    loginFrom(device, identifier) {
      const metadata = new Metadata();
      metadata.set("x-client-ip", device.ip);
      metadata.set("x-client-user-agent", device.userAgent);
      return new Promise((resolve, reject) =>
        plain.login({ identifier, password: PASSWORD, deviceName: "another" }, metadata, (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      );
    },
  };
  return harness;
}

export { failure } from "@parley/testing";
