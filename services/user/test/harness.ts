import { createAuthenticator, type PartnerPrincipal, type PersonRole } from "@parley/kit/auth";
import type { Bus } from "@parley/kit/bus";
import { createDatabase } from "@parley/kit/db";
import { unauthenticated } from "@parley/kit/errors";
import { type CallOptions, createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger, type Logger } from "@parley/kit/log";
import { UserSafetyServiceService } from "@parley/proto/parley/user/v1/safety";
import { UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import { type ExpertProfile, UserServiceService } from "@parley/proto/parley/user/v1/user";
import {
  createTestClock,
  createTestDatabase,
  createTestIssuer,
  startTestServer,
  type TestClock,
  type TestIssuer,
} from "@parley/testing";
import postgres from "postgres";
import type { Test } from "tap";
import type { PresenceStore } from "../src/domain/ports";
import { createInProcessPresence } from "../src/persistence/presence";
import { createUserService, USER_MIGRATIONS, type UserService, type UserServiceDeps } from "../src/server";

export type UserClient = ServiceClient<typeof UserServiceService>;
export type Caller = CallOptions;

export const PRESENCE_TTL_SECONDS = 60;

/**
 * Partner API keys for tests. Auth's VerifyApiKey is the real source in production; here the
 * authenticator maps these keys to partner identities (an identity input, not a storage mock).
 */
const PARTNER_KEYS: Record<string, PartnerPrincipal> = {
  "test-key-partner-a": {
    kind: "partner",
    partnerId: "partner-a",
    keyId: "key-a",
    scopes: ["users:sync", "users:read"],
  },
  "test-key-partner-b": {
    kind: "partner",
    partnerId: "partner-b",
    keyId: "key-b",
    scopes: ["users:sync", "users:read"],
  },
  "test-key-partner-a-read": {
    kind: "partner",
    partnerId: "partner-a",
    keyId: "key-a-read",
    scopes: ["users:read"],
  },
};

export interface Harness {
  client: UserClient;
  /** UserSafetyService (what the session service keeps current here). */
  safety: ServiceClient<typeof UserSafetyServiceService>;
  /** UserStaffService (what auth asks of profiles and of messages to an address). */
  staff: ServiceClient<typeof UserStaffServiceService>;
  service: UserService;
  address: string;
  issuer: TestIssuer;
  sql: postgres.Sql;
  clock: TestClock;
  as: {
    auth: Caller;
    session: Caller;
    billing: Caller;
    edge: Caller;
    operator: Caller;
    partnerA: Caller;
    partnerB: Caller;
    partnerARead: Caller;
  };
  person(role?: PersonRole): Promise<{ userId: string; call: Caller }>;
  /** A new expert with a profile (as that expert) and presence reported online. */
  expert(profile?: Partial<ExpertProfile>): Promise<{ userId: string; call: Caller }>;
}

export const inr = (amountMinor: bigint) => ({ amountMinor, currency: "INR" });

/** A profile with every field empty: UpdateProfile's base, its mask naming what a test sets. */
export const blankProfile = {
  userId: "",
  displayName: "",
  avatarUrl: "",
  bio: "",
  languages: [],
  verified: false,
  partnerId: "",
  externalId: "",
  syncStatus: 0,
};

export const expertProfile = (overrides: Partial<ExpertProfile> = {}): ExpertProfile => ({
  chatRate: inr(1000n),
  callRate: inr(1500n),
  maxConcurrentSessions: 2,
  specialisations: ["vedic"],
  languages: ["en", "hi"],
  experienceYears: 5,
  bio: "Reads charts.",
  ...overrides,
});

/** One real database, one user server on a free port, real signed tokens, an injectable clock. */
export async function startHarness(
  t: Test,
  options: Pick<UserServiceDeps, "delivery" | "passwordResetUrl"> & {
    presence?: PresenceStore;
    bus?: Bus;
    /** The service's logger; a silent one (TEST_LOG_LEVEL) by default. */
    log?: Logger;
  } = {},
): Promise<Harness> {
  const { url } = await createTestDatabase(t, { migrations: [USER_MIGRATIONS] });
  const database = createDatabase(url, { max: 20 });
  t.teardown(database.close);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));
  const issuer = await createTestIssuer();
  const clock = createTestClock();
  const presence = options.presence ?? createInProcessPresence(PRESENCE_TTL_SECONDS, () => clock.now);
  const service = createUserService({
    sql: database.sql,
    presence,
    bus: options.bus,
    log: options.log ?? createLogger({ service: "user", level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    now: () => clock.now,
    watch: { heartbeatMs: 15_000, pollMs: 100, checkMs: 500 },
    delivery: options.delivery,
    passwordResetUrl: options.passwordResetUrl,
  });
  t.teardown(service.close);
  const { binding, safetyBinding, staff: staffBinding } = service;
  const { address } = await startTestServer(t, {
    name: "user",
    services: [binding, safetyBinding, staffBinding],
    authenticate: createAuthenticator({
      tokens: issuer.verifier,
      verifyApiKey: async (key) => {
        const principal = PARTNER_KEYS[key];
        if (!principal) throw unauthenticated("API_KEY_INVALID", "unknown API key");
        return principal;
      },
    }),
  });
  const client = createServiceClient(UserServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => client.close());
  const safety = createServiceClient(UserSafetyServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => safety.close());
  const staff = createServiceClient(UserStaffServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => staff.close());
  const bearer = async (token: Promise<string>) => ({ bearerToken: await token });
  const apiKey = (key: string) => ({ apiKey: key });
  const harness: Harness = {
    client,
    safety,
    staff,
    service,
    address,
    issuer,
    sql,
    clock,
    as: {
      auth: await bearer(issuer.serviceToken("auth")),
      session: await bearer(issuer.serviceToken("session")),
      billing: await bearer(issuer.serviceToken("billing")),
      edge: await bearer(issuer.serviceToken("edge")),
      operator: await bearer(issuer.userToken({ role: "operator" })),
      partnerA: apiKey("test-key-partner-a"),
      partnerB: apiKey("test-key-partner-b"),
      partnerARead: apiKey("test-key-partner-a-read"),
    },
    async person(role = "user") {
      const userId = newId();
      return { userId, call: await bearer(issuer.userToken({ userId, role })) };
    },
    async expert(profile = {}) {
      const expert = await harness.person("expert");
      await client.upsertExpertProfile(
        { reason: "", expertId: "", profile: expertProfile(profile) },
        expert.call,
      );
      await client.reportPresence({ userId: expert.userId, online: true }, harness.as.edge);
      return expert;
    },
  };
  return harness;
}

export { failure } from "@parley/testing";
