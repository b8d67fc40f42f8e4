import { createAuthenticator } from "@parley/kit/auth";
import { createInProcessBus } from "@parley/kit/bus";
import { createDatabase } from "@parley/kit/db";
import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger, type Logger } from "@parley/kit/log";
import type { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { MessageKind, SessionKind, SessionServiceService } from "@parley/proto/parley/session/v1/session";
import { ExpertAvailability } from "@parley/proto/parley/user/v1/user";
import {
  createTestClock,
  createTestDatabase,
  createTestIssuer,
  spawnService,
  startTestServer,
  type TestClock,
  type TestIssuer,
} from "@parley/testing";
import postgres from "postgres";
import type { Test } from "tap";
import { billingPort, createBillingClient } from "../src/clients/billing";
import {
  createUserClient,
  createUserSafetyClient,
  expertDirectory,
  safetyMirror,
  type UserClient,
  type UserSafetyClient,
} from "../src/clients/user";
import type { BillingPort, ExpertDirectory } from "../src/domain/ports";
import { DEFAULT_RULES, type SessionRules } from "../src/domain/sessions";
import { createSessionService, SESSION_MIGRATIONS } from "../src/server";
import type { MeteringWorkerOptions } from "../src/workers/metering";
import { createSafetyRelay } from "../src/workers/safety-sync";

export type SessionClient = ServiceClient<typeof SessionServiceService>;
export type BillingClient = ServiceClient<typeof BillingServiceService>;

export interface Person {
  userId: string;
  call: { bearerToken: string };
}

export interface Harness {
  issuer: TestIssuer;
  session: SessionClient;
  billing: BillingClient;
  billingPort: BillingPort;
  /**
   * The real billing, except that PlaceHold's answer is held back until `answer()`: the hold
   * exists (`placed` resolves) while session still waits, as with a slow network.
   */
  heldBackHolds(): { billing: BillingPort; placed: Promise<void>; answer: () => void };
  /** Where the real billing and user processes listen. */
  addresses: { billing: string; user: string };
  /** The environment for session itself as a process (`spawnService`) over this harness's billing and user. */
  processEnv(databaseUrl: string, extra?: Record<string, string>): Promise<Record<string, string>>;
  /** The real user service, and session's view of it. */
  user: UserClient;
  /** The user service's safety RPCs (ApplyBlock, …), as session calls them. */
  userSafety: UserSafetyClient;
  /** The safety outbox's relay to user, over a pool of its own: tests drive its drainOnce. */
  safetyRelay(): ReturnType<typeof createSafetyRelay>;
  experts: ExpertDirectory;
  clock: TestClock;
  sql: postgres.Sql;
  /** The session service's test database. */
  databaseUrl: string;
  log: Logger;
  rules: SessionRules;
  /** Another instance of the service over the same database (a second worker). */
  instance(billing?: BillingPort, metering?: MeteringWorkerOptions): ReturnType<typeof createSessionService>;
  service: ReturnType<typeof createSessionService>;
  person(role?: "user" | "expert" | "operator"): Promise<Person>;
  expert(options?: ExpertOptions): Promise<Person>;
  /** The expert as the user service reports it now. */
  expertState(
    expertId: string,
  ): Promise<{ activeSessions: number; ratingCount: number; ratingAverage: number }>;
  fund(userId: string, amountMinor: bigint): Promise<void>;
  available(userId: string): Promise<bigint>;
  /** These people have the session open: what the edge reports when their sockets join it. */
  present(sessionId: string, ...people: Person[]): Promise<void>;
  /**
   * Request + accept a chat (or call) between a funded user and an expert, both connected to it.
   * With `expert`, that expert (made with room for several sessions) takes this one too.
   */
  activeSession(options?: { kind?: SessionKind; funds?: bigint; rate?: bigint; expert?: Person }): Promise<{
    user: Person;
    expert: Person;
    sessionId: string;
  }>;
}

export const RATE = 1_000n;

/** A SendMessage request of plain text (a new client_msg_id unless given). */
export const text = (sessionId: string, body: string, clientMsgId = newId()) => ({
  sessionId,
  kind: MessageKind.MESSAGE_KIND_TEXT,
  text: body,
  attachmentUrl: "",
  attachmentContentType: "",
  clientMsgId,
});

export interface ExpertOptions {
  chatRateMinor?: bigint;
  callRateMinor?: bigint;
  maxConcurrentSessions?: number;
  availability?: ExpertAvailability;
}

export async function startHarness(t: Test, rules: Partial<SessionRules> = {}): Promise<Harness> {
  const issuer = await createTestIssuer();
  const billingDatabase = await createTestDatabase(t);
  const billingProcess = await spawnService(t, "billing", {
    DATABASE_URL: billingDatabase.url,
    TRUSTED_JWKS: JSON.stringify(issuer.jwks),
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
  });
  const serviceToken = await issuer.serviceToken("session");
  const billingClient = createBillingClient(billingProcess.address, async () => serviceToken);
  t.teardown(() => billingClient.close());
  const port = billingPort(billingClient);

  const { url } = await createTestDatabase(t, { migrations: [SESSION_MIGRATIONS] });
  const database = createDatabase(url, { max: 20 });
  t.teardown(database.close);
  const sql = postgres(url, { max: 2, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  t.teardown(() => sql.end({ timeout: 5 }));
  const clock = createTestClock();
  const userDatabase = await createTestDatabase(t);
  const userProcess = await spawnService(t, "user", {
    DATABASE_URL: userDatabase.url,
    TRUSTED_JWKS: JSON.stringify(issuer.jwks),
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
  });
  const userClient = createUserClient(userProcess.address, async () => serviceToken);
  t.teardown(() => userClient.close());
  const userSafety = createUserSafetyClient(userProcess.address, async () => serviceToken);
  t.teardown(() => userSafety.close());
  const experts = expertDirectory(userClient);
  const bus = createInProcessBus();
  const log = createLogger({ service: "session", level: process.env.TEST_LOG_LEVEL ?? "silent" });
  // Tests report a side's presence once and then move the clock by minutes: the presence timeout
  // is off unless a test sets it (presence.test.ts does).
  const allRules = { ...DEFAULT_RULES, presenceTimeoutSeconds: 0, ...rules };
  const instance = (billing: BillingPort = port, metering?: MeteringWorkerOptions) =>
    createSessionService({
      sql: database.sql,
      bus,
      billing,
      experts,
      rules: allRules,
      log,
      now: () => clock.now,
      heartbeatMs: 60_000,
      metering,
    });
  const service = instance();
  const { address } = await startTestServer(t, {
    name: "session",
    services: [service.binding],
    authenticate: createAuthenticator({ tokens: issuer.verifier }),
  });
  const session = createServiceClient(SessionServiceService, { address, defaultDeadlineMs: 20_000 });
  t.teardown(() => session.close());
  const operator = { bearerToken: await issuer.userToken({ role: "operator" }) };
  const admin = { bearerToken: await issuer.userToken({ role: "admin" }) };

  const person = async (role: "user" | "expert" | "operator" = "user") => {
    const userId = newId();
    return { userId, call: { bearerToken: await issuer.userToken({ userId, role }) } };
  };
  const fund = async (userId: string, amountMinor: bigint) => {
    await billingClient.grantCredit(
      { userId, amount: { amountMinor, currency: "INR" }, note: "test funds", requestId: newId() },
      admin,
    );
  };
  const harness: Harness = {
    issuer,
    session,
    billing: billingClient,
    billingPort: port,
    heldBackHolds() {
      let holdPlaced!: () => void;
      const placed = new Promise<void>((resolve) => (holdPlaced = resolve));
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      const billing: BillingPort = {
        ...port,
        async placeHold(input) {
          const hold = await port.placeHold(input);
          holdPlaced();
          await answered;
          return hold;
        },
      };
      return { billing, placed, answer };
    },
    addresses: { billing: billingProcess.address, user: userProcess.address },
    async processEnv(databaseUrl, extra = {}) {
      return {
        DATABASE_URL: databaseUrl,
        TRUSTED_JWKS: JSON.stringify(issuer.jwks),
        JWT_ISSUER: issuer.issuer,
        JWT_AUDIENCE: issuer.audience,
        SERVICE_ACCESS_TOKEN: serviceToken,
        BILLING_ADDRESS: billingProcess.address,
        USER_ADDRESS: userProcess.address,
        ...extra,
      };
    },
    user: userClient,
    userSafety,
    safetyRelay() {
      const pool = createDatabase(url, { max: 2 });
      t.teardown(pool.close);
      return createSafetyRelay(
        pool.sql,
        safetyMirror(userSafety),
        harness.service.sessions.closeBetween,
        log,
      );
    },
    experts,
    clock,
    sql,
    databaseUrl: url,
    log,
    rules: allRules,
    instance,
    service,
    person,
    fund,
    async available(userId) {
      const { wallet } = await billingClient.getWallet({ userId, currency: "INR", rateMinor: 0n }, operator);
      return wallet?.available?.amountMinor ?? 0n;
    },
    async expert(options = {}) {
      const expert = await person("expert");
      await userClient.upsertExpertProfile(
        {
          reason: "",
          expertId: expert.userId,
          profile: {
            chatRate: { amountMinor: options.chatRateMinor ?? RATE, currency: "INR" },
            callRate: { amountMinor: options.callRateMinor ?? RATE * 2n, currency: "INR" },
            maxConcurrentSessions: options.maxConcurrentSessions ?? 2,
            specialisations: ["astrology"],
            languages: ["en"],
            experienceYears: 3,
            bio: "test expert",
          },
        },
        expert.call,
      );
      const availability = options.availability ?? ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE;
      await userClient.setAvailability({ reason: "", expertId: expert.userId, availability }, expert.call);
      await userClient.reportPresence({ userId: expert.userId, online: true });
      return expert;
    },
    async expertState(expertId) {
      const { expert } = await userClient.getExpert({ expertId });
      return {
        activeSessions: expert!.activeSessions,
        ratingCount: expert!.ratingCount,
        ratingAverage: expert!.ratingAverage,
      };
    },
    async present(sessionId, ...people) {
      for (const person of people)
        await harness.service.sessions.reportPresence(person.userId, sessionId, true);
    },
    async activeSession({
      kind = SessionKind.SESSION_KIND_CHAT,
      funds = RATE * 20n,
      rate = RATE,
      expert: shared,
    } = {}) {
      const user = await person();
      const expert = shared ?? (await harness.expert({ chatRateMinor: rate, callRateMinor: rate }));
      await fund(user.userId, funds);
      const { session: requested } = await session.requestSession(
        { expertId: expert.userId, kind, requestId: newId() },
        user.call,
      );
      const sessionId = requested!.sessionId;
      await harness.present(sessionId, user, expert);
      await session.acceptSession({ sessionId }, expert.call);
      return { user, expert, sessionId };
    },
  };
  return harness;
}

export { failure } from "@parley/testing";
