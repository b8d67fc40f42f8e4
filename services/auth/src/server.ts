import type { BlockList } from "node:net";
import path from "node:path";
import { createPlatformIdentity, createServiceTokenSource } from "@parley/kit/auth";
import { ConfigError } from "@parley/kit/config";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import { unavailable } from "@parley/kit/errors";
import {
  bindService,
  type CallContext,
  createGrpcServer,
  type GrpcServer,
  type ServiceBinding,
} from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createPaging } from "@parley/kit/paging";
import { AccountServiceService } from "@parley/proto/parley/auth/v1/account";
import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { BackOfficeServiceService } from "@parley/proto/parley/auth/v1/backoffice";
import { createBillingStaff } from "./clients/billing";
import { createSessionStaff } from "./clients/session";
import { dataSources, deletionChecks } from "./clients/sources";
import { createUserDirectory } from "./clients/user";
import type { AuthConfig } from "./config";
import { createAccounts } from "./domain/accounts";
import { createApiKeys } from "./domain/api-keys";
import { createStaffAudit } from "./domain/audit";
import { createLifecycle } from "./domain/lifecycle";
import { createMfa } from "./domain/mfa";
import { createPeople } from "./domain/people";
import type { AuthPolicy } from "./domain/policy";
import type {
  AttemptLimiter,
  DataSources,
  DeletionChecks,
  Notifier,
  ProfileDirectory,
  SecurityNotifier,
  StaffProfiles,
  SyncedUsers,
  Wallets,
} from "./domain/ports";
import { createSecrets } from "./domain/secrets";
import { createServiceIdentities } from "./domain/service-identities";
import { createSessions } from "./domain/sessions";
import { createKeyRing } from "./domain/signing-keys";
import { accountHandlers, accountPermissions } from "./grpc/account";
import {
  type BackOfficeDomain,
  type BackOfficeUpstreams,
  backOfficeHandlers,
  staffCall,
} from "./grpc/backoffice";
import { type AuthDomain, authHandlers } from "./grpc/handlers";
import { authPermissions, backOfficePermissions, backOfficeRules } from "./grpc/permissions";
import { createPostgresAttemptLimiter, createRedisAttemptLimiter } from "./persistence/attempts";
import { createAuditLog } from "./persistence/audit";
import { createAuthStore } from "./persistence/store";
import { createOutboxWorker } from "./workers/outbox";
import { resealAtStart } from "./workers/reseal";

export const AUTH_MIGRATIONS = {
  migrationsFolder: path.resolve(import.meta.dirname, "../drizzle"),
  schema: "auth",
};

export interface AuthServiceDeps {
  sql: Sql;
  limiter: AttemptLimiter;
  syncedUsers: SyncedUsers;
  policy: AuthPolicy;
  signingKeySecret: string;
  /** SIGNING_KEY_SECRET_PREVIOUS: secrets rotated out, still opening and matching what they made. */
  previousSigningKeySecrets?: readonly string[];
  /** PAGE_TOKEN_SECRET; a process-local key when absent (tests). */
  pageTokenSecret?: string;
  serviceCredentials: ReadonlyMap<string, readonly string[]>;
  issuer: string;
  audience: string;
  keyActivationDelaySeconds: number;
  keyRotationDays: number;
  trustedPeers: BlockList;
  /** Billing's wallets (freezes by the back office); freezing is unavailable without. */
  wallets?: Wallets;
  /** The user service's profiles for the back office's search; unavailable without. */
  staffProfiles?: StaffProfiles;
  /** The other services the back office reads through (wallets, ledgers, sessions). */
  upstreams?: BackOfficeUpstreams;
  /** What deleting an account checks, and where an export reads; the lifecycle is unavailable without. */
  lifecycle?: { checks: DeletionChecks; sources: DataSources };
  /** The user service: a new account's profile is made at once when given (and by the outbox always). */
  profiles?: ProfileDirectory;
  now?: () => Date;
}

/** Auth's RPCs only staff may call (roles, API keys, signing keys): a refused call is audited too. */
const STAFF_ONLY = new Set(
  Object.entries(AuthServiceService)
    .filter(([key]) => {
      const roles = authPermissions[key as keyof typeof authPermissions].roles ?? [];
      return (
        roles.length > 0 &&
        roles.every((role) => role === "admin" || role === "support" || role === "operator")
      );
    })
    .map(([, method]) => method.path.slice(1)),
);

/** The auth use cases and their gRPC bindings over an existing pool (no server yet). */
export function createAuthService(deps: AuthServiceDeps): {
  domain: AuthDomain;
  binding: ServiceBinding;
  backOffice: { domain: BackOfficeDomain; binding: ServiceBinding };
  /** AccountService: a person's own deletion and export. */
  account: ServiceBinding;
  /** The kit server's onDenied: a refused back-office call is audited. */
  onDenied: (ctx: CallContext, request: unknown) => Promise<void>;
} {
  const now = deps.now ?? (() => new Date());
  const store = createAuthStore(deps.sql, now);
  const secrets = createSecrets(deps.signingKeySecret, deps.previousSigningKeySecrets);
  const keys = createKeyRing({
    store,
    secrets,
    now,
    accessTokenTtlSeconds: deps.policy.accessTokenTtlSeconds,
    activationDelaySeconds: deps.keyActivationDelaySeconds,
    rotationDays: deps.keyRotationDays,
  });
  const { policy, limiter } = deps;
  const sessions = createSessions({
    store,
    secrets,
    keys,
    policy,
    issuer: deps.issuer,
    audience: deps.audience,
    now,
  });
  const mfa = createMfa({ store, secrets, limiter, policy, now, totpIssuer: "Parley" });
  const audit = createStaffAudit({ log: createAuditLog(deps.sql), rules: backOfficeRules, now });
  const domain: AuthDomain = {
    audit,
    sessions,
    mfa,
    keys,
    accounts: createAccounts({
      store,
      secrets,
      limiter,
      policy,
      sessions,
      mfa,
      now,
      profiles: deps.profiles,
    }),
    apiKeys: createApiKeys({ store, secrets, sessions, syncedUsers: deps.syncedUsers, now }),
    services: createServiceIdentities({ credentials: deps.serviceCredentials, sessions, limiter }),
    trustedPeers: deps.trustedPeers,
    paging: createPaging(deps.pageTokenSecret),
  };
  const backOffice: BackOfficeDomain = {
    audit,
    people: createPeople({
      store,
      audit,
      wallets: deps.wallets ?? {
        setFrozen: async () => {
          throw unavailable("BILLING_UNAVAILABLE", "no billing service is configured");
        },
      },
      profiles: deps.staffProfiles ?? {
        search: async () => {
          throw unavailable("USER_UNAVAILABLE", "no user service is configured");
        },
        byIds: async () => [],
      },
      now,
    }),
    paging: domain.paging,
    ...(deps.upstreams ? { upstreams: deps.upstreams } : {}),
  };
  return {
    domain,
    binding: bindService(AuthServiceService, authHandlers(domain), authPermissions),
    backOffice: {
      domain: backOffice,
      binding: bindService(BackOfficeServiceService, backOfficeHandlers(backOffice), backOfficePermissions),
    },
    account: bindService(
      AccountServiceService,
      accountHandlers(
        createLifecycle({
          store,
          secrets,
          mfa,
          limiter,
          policy,
          now,
          ...(deps.lifecycle ?? {
            checks: {
              openSession: async () => {
                throw unavailable("SESSION_UNAVAILABLE", "no session service is configured");
              },
              pendingMoney: async () => {
                throw unavailable("BILLING_UNAVAILABLE", "no billing service is configured");
              },
            },
            sources: unavailableSources(),
          }),
        }),
      ),
      accountPermissions,
    ),
    onDenied: async (ctx, request) => {
      if (ctx.method.startsWith("parley.auth.v1.BackOfficeService/") || STAFF_ONLY.has(ctx.method))
        await audit.denied(staffCall(ctx), request);
    },
  };
}

/**
 * Auth verifies callers with its own key ring and API-key store: the same identity code
 * as every other service, with the directory answered in-process, on the clock auth signs with.
 */
export function localIdentity(
  domain: AuthDomain,
  issuer: string,
  audience: string,
  now?: () => Date,
  log?: Logger,
) {
  return createPlatformIdentity({
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: audience,
    now,
    log,
    directory: {
      getJwks: () => domain.keys.jwks(),
      verifyApiKey: (apiKey) => domain.apiKeys.verify(apiKey),
      issueServiceToken: (name, secret) => domain.services.issue(name, secret, "in-process"),
      listRevocations: (afterSeq) => domain.sessions.revocations(afterSeq),
    },
  });
}

/** Export sources when the other services are not wired (tests of auth alone). */
function unavailableSources(): DataSources {
  const refuse = async (): Promise<never> => {
    throw unavailable("UPSTREAMS_UNAVAILABLE", "the other services are not configured");
  };
  return {
    profile: refuse,
    sessions: refuse,
    messagesSent: refuse,
    wallet: refuse,
    transactions: refuse,
    invoices: refuse,
  };
}

export const policyFromConfig = (config: AuthConfig): AuthPolicy => ({
  accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  sessionIdleDays: config.SESSION_IDLE_DAYS,
  sessionAbsoluteDays: config.SESSION_ABSOLUTE_DAYS,
  refreshRetrySeconds: 10,
  mfaChallengeSeconds: 300,
  resetTokenMinutes: 30,
  accountAttemptLimit: config.LOGIN_ATTEMPT_LIMIT,
  ipAttemptLimit: config.LOGIN_IP_ATTEMPT_LIMIT,
  attemptWindowSeconds: config.ATTEMPT_WINDOW_SECONDS,
});

export interface StartAuthOptions {
  metrics?: ServiceMetrics;
  /** Where reset messages go; the user service's email and SMS channels by default. */
  notifier?: Notifier;
  /** The user service; a gRPC client of USER_ADDRESS by default. */
  profiles?: ProfileDirectory;
  syncedUsers?: SyncedUsers;
  /** The user service's inbox for security notices; a gRPC client of USER_ADDRESS by default. */
  notices?: SecurityNotifier;
  now?: () => Date;
}

const KEY_MAINTENANCE_MS = 3_600_000;
const RETRY_PAIR_SWEEP_MS = 10_000;
const ATTEMPT_SWEEP_MS = 600_000;

/** Everything main.ts does after reading the environment: migrate, keys, admin, outbox, server. */
export async function startAuth(
  config: AuthConfig,
  log: Logger,
  options: StartAuthOptions = {},
): Promise<{ server: GrpcServer; port: number; domain: AuthDomain }> {
  if (Boolean(config.BOOTSTRAP_ADMIN_EMAIL) !== Boolean(config.BOOTSTRAP_ADMIN_PASSWORD))
    throw new ConfigError([
      "BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD are set together or not at all",
    ]);
  await migrateDatabase(config.DATABASE_URL, AUTH_MIGRATIONS);
  const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  const counters = createPostgresAttemptLimiter(database.sql, options.now);
  const limiter = config.REDIS_URL
    ? createRedisAttemptLimiter(config.REDIS_URL, config.REDIS_KEY_PREFIX, counters, log)
    : counters;

  let selfToken: () => Promise<string> = async () => "";
  const users = createUserDirectory(config.USER_ADDRESS, () => selfToken());
  const profiles = options.profiles ?? users.profiles;
  const billingStaff = createBillingStaff(config.BILLING_ADDRESS, () => selfToken());
  const sessionStaff = createSessionStaff(config.SESSION_ADDRESS, () => selfToken());
  const { domain, binding, backOffice, account, onDenied } = createAuthService({
    sql: database.sql,
    wallets: billingStaff.wallets,
    staffProfiles: users.staffProfiles,
    lifecycle: {
      checks: deletionChecks(sessionStaff.sessions, billingStaff.pendingMoney),
      sources: dataSources({
        user: users.client,
        sessions: sessionStaff.sessions,
        billing: billingStaff.billing,
      }),
    },
    upstreams: {
      billing: billingStaff.billing,
      sessions: sessionStaff.sessions,
      sessionStaff: sessionStaff.client,
    },
    limiter,
    syncedUsers: options.syncedUsers ?? users.syncedUsers,
    policy: policyFromConfig(config),
    signingKeySecret: config.SIGNING_KEY_SECRET,
    previousSigningKeySecrets: config.SIGNING_KEY_SECRET_PREVIOUS,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    serviceCredentials: config.SERVICE_CREDENTIALS,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    keyActivationDelaySeconds: config.KEY_ACTIVATION_DELAY_SECONDS,
    keyRotationDays: config.KEY_ROTATION_DAYS,
    trustedPeers: config.CLIENT_IP_TRUSTED_PEERS,
    profiles,
    now: options.now,
  });
  selfToken = createServiceTokenSource(() => domain.sessions.serviceToken("auth"));

  await domain.keys.maintain();
  if (config.BOOTSTRAP_ADMIN_EMAIL && config.BOOTSTRAP_ADMIN_PASSWORD) {
    const outcome = await domain.accounts.bootstrapAdmin(
      config.BOOTSTRAP_ADMIN_EMAIL,
      config.BOOTSTRAP_ADMIN_PASSWORD,
    );
    if (outcome === "exists_not_admin")
      log.warn(
        { email: config.BOOTSTRAP_ADMIN_EMAIL },
        "BOOTSTRAP_ADMIN_EMAIL belongs to an account that is not an admin; it was not promoted",
      );
  }

  const outbox = createOutboxWorker({
    sql: database.sql,
    profiles,
    notices: options.notices ?? users.notices,
    effects: {
      setProfileStatus: users.setProfileStatus,
      endSessions: sessionStaff.endSessions,
      forgetAuthor: sessionStaff.forgetAuthor,
      sendVerificationCode: users.sendVerificationCode,
    },
    accounts: createAuthStore(database.sql, options.now ?? (() => new Date())),
    notifier: options.notifier ?? users.resets,
    log,
    intervalMs: config.OUTBOX_INTERVAL_MS,
    now: options.now,
  });
  await outbox.start();
  let stopping = false;
  // Only while a rotation is under way: with no previous secret nothing needs moving (a value
  // sealed before secrets had ids opens under the current one), and a start scans nothing.
  const resealing =
    config.SIGNING_KEY_SECRET_PREVIOUS.length > 0
      ? resealAtStart({ resealTotpSecrets: domain.mfa.resealTotpSecrets, log, stopped: () => stopping })
      : Promise.resolve();
  const maintenance = setInterval(() => {
    domain.keys
      .maintain()
      .catch((error: unknown) => log.error({ err: error }, "signing key maintenance failed"));
  }, KEY_MAINTENANCE_MS);
  const retryPairSweep = setInterval(() => {
    domain.sessions
      .forgetRetryPairs()
      .catch((error: unknown) => log.error({ err: error }, "forgetting spent refresh pairs failed"));
    domain.sessions
      .forgetSessionRevocations()
      .catch((error: unknown) => log.error({ err: error }, "forgetting old session revocations failed"));
  }, RETRY_PAIR_SWEEP_MS);
  const attemptSweep = setInterval(() => {
    counters.sweep().catch((error: unknown) => log.error({ err: error }, "sweeping attempt counters failed"));
  }, ATTEMPT_SWEEP_MS);

  const server = createGrpcServer({
    name: "auth",
    log,
    authenticate: localIdentity(domain, config.JWT_ISSUER, config.JWT_AUDIENCE, options.now, log)
      .authenticate,
    metrics: options.metrics,
    services: [binding, backOffice.binding, account],
    onDenied,
    readiness: [() => database.ping()],
    onShutdown: [
      async () => {
        stopping = true;
        await resealing;
        clearInterval(maintenance);
        clearInterval(retryPairSweep);
        clearInterval(attemptSweep);
      },
      outbox.stop,
      async () => users.close(),
      async () => sessionStaff.close(),
      async () => billingStaff.close(),
      limiter.close,
      database.close,
    ],
  });
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port, domain };
}
