import path from "node:path";
import type { Authenticator } from "@parley/kit/auth";
import { type Bus, createBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import { bindService, createGrpcServer, type GrpcServer, type StaffActionRecorder } from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createNotificationRelay, type Notifier } from "@parley/kit/notify";
import { createPaging } from "@parley/kit/paging";
import { createCatchUp } from "@parley/kit/watch";
import { SafetyServiceService } from "@parley/proto/parley/session/v1/safety";
import { SessionServiceService } from "@parley/proto/parley/session/v1/session";
import { SessionStaffServiceService } from "@parley/proto/parley/session/v1/staff";
import type { SessionConfig } from "./config";
import { createAuthorship } from "./domain/authorship";
import { DEFAULT_DISPUTE_RULES, type DisputeRules } from "./domain/dispute-rules";
import type { BillingPort, Clock, ExpertDirectory } from "./domain/ports";
import { createSafety } from "./domain/safety";
import type { BackOffice, SafetyMirror } from "./domain/safety-ports";
import { createSessions, type SessionRules } from "./domain/sessions";
import { SESSION_STAFF_ACTIONS } from "./grpc/audited";
import { sessionHandlers } from "./grpc/handlers";
import { sessionPermissions } from "./grpc/permissions";
import { safetyHandlers } from "./grpc/safety-handlers";
import { safetyPermissions } from "./grpc/safety-permissions";
import { sessionStaffHandlers, sessionStaffPermissions } from "./grpc/staff";
import { createAuthorshipStore } from "./persistence/authorship";
import { busEventFeed } from "./persistence/event-feed";
import { createSafetyStore } from "./persistence/safety-store";
import { createSessionStore, NOTIFICATION_OUTBOX } from "./persistence/store";
import { createMeteringWorker, type MeteringWorkerOptions, startMeteringLoop } from "./workers/metering";
import { startMetricsPublisher } from "./workers/metrics-publisher";
import { createSafetyRelay } from "./workers/safety-sync";

export const SESSION_MIGRATIONS = {
  migrationsFolder: path.resolve(import.meta.dirname, "../drizzle"),
  schema: "sessions",
};

export interface SessionServiceDeps {
  sql: Sql;
  bus: Bus;
  billing: BillingPort;
  experts: ExpertDirectory;
  rules: SessionRules;
  /** The dispute window and rules (DISPUTE_*); the defaults when absent. */
  disputes?: DisputeRules;
  /** Auth's back office (a report resolved by suspending); absent: SUSPEND_NOT_AVAILABLE. */
  backOffice?: BackOffice;
  /** The user service (experts' public figures); absent: they are not published. */
  mirror?: SafetyMirror;
  log: Logger;
  /** PAGE_TOKEN_SECRET; a process-local key when absent (tests). */
  pageTokenSecret?: string;
  now?: Clock;
  heartbeatMs?: number;
  metering?: MeteringWorkerOptions;
  /** Watch catch-up checks: while the bus is down (pollMs) and while it is up (checkMs). */
  watch?: { pollMs: number; checkMs: number };
}

/** The session use cases, the metering worker and the gRPC binding over existing pools. */
export function createSessionService(deps: SessionServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const store = createSessionStore(deps.sql);
  const feed = busEventFeed(deps.bus, deps.log);
  const sessions = createSessions({
    store,
    billing: deps.billing,
    experts: deps.experts,
    now,
    rules: deps.rules,
    log: deps.log,
    feed,
  });
  const metering = createMeteringWorker(sessions, deps.log, deps.metering);
  const catchUp = createCatchUp({
    feed,
    lastSeqs: store.lastSeqs,
    pollMs: deps.watch?.pollMs ?? 1_000,
    checkMs: deps.watch?.checkMs ?? 10_000,
    log: deps.log,
  });
  const paging = createPaging(deps.pageTokenSecret);
  const binding = bindService(
    SessionServiceService,
    sessionHandlers(sessions, { feed, catchUp, heartbeatMs: deps.heartbeatMs ?? 15_000, now }, paging),
    sessionPermissions,
  );
  const staff = bindService(
    SessionStaffServiceService,
    sessionStaffHandlers(sessions, paging, createAuthorship(createAuthorshipStore(deps.sql))),
    sessionStaffPermissions,
  );
  const safety = createSafety({
    core: sessions.parts.core,
    store: createSafetyStore(deps.sql),
    rules: deps.disputes ?? DEFAULT_DISPUTE_RULES,
    closeBetween: sessions.closeBetween,
    backOffice: deps.backOffice,
    mirror: deps.mirror,
  });
  const safetyBinding = bindService(SafetyServiceService, safetyHandlers(safety, paging), safetyPermissions);
  return { sessions, safety, metering, catchUp, binding, staff, bindings: [binding, staff, safetyBinding] };
}

export function buildSessionServer(
  deps: SessionServiceDeps & {
    authenticate: Authenticator;
    metrics?: ServiceMetrics;
    onShutdown?: Array<() => Promise<void>>;
    readiness?: Array<() => Promise<void>>;
    /** Staff actions into auth's audit log (the identity's recorder); unset: not recorded (tests). */
    recordStaffAction?: StaffActionRecorder;
  },
): { server: GrpcServer } & ReturnType<typeof createSessionService> {
  const service = createSessionService(deps);
  const server = createGrpcServer({
    name: "session",
    log: deps.log,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    services: service.bindings,
    onShutdown: deps.onShutdown,
    readiness: deps.readiness,
    staffActions: SESSION_STAFF_ACTIONS,
    recordStaffAction: deps.recordStaffAction,
  });
  return { server, ...service };
}

export const rulesFromConfig = (config: SessionConfig): SessionRules => ({
  minMinutes: config.MIN_MINUTES,
  requestTtlSeconds: config.REQUEST_TTL_SECONDS,
  holdTtlSeconds: config.HOLD_TTL_SECONDS,
  pauseGraceSeconds: config.PAUSE_GRACE_SECONDS,
  disconnectTimeoutSeconds: config.DISCONNECT_TIMEOUT_SECONDS,
  presenceTimeoutSeconds: config.PRESENCE_TIMEOUT_SECONDS,
  averageSessionSeconds: config.AVERAGE_SESSION_SECONDS,
  maxQueueLength: config.MAX_QUEUE_LENGTH,
  minuteSeconds: config.MINUTE_SECONDS,
  leaseSeconds: config.METERING_LEASE_SECONDS,
  contactFilter: config.CONTACT_FILTER,
});

export const disputeRulesFromConfig = (config: SessionConfig): DisputeRules => ({
  windowHours: config.DISPUTE_WINDOW_HOURS,
  enabled: config.DISPUTE_RULES,
  noReplySeconds: config.DISPUTE_NO_REPLY_SECONDS,
});

/** Everything main.ts does after reading the environment: migrate, pools, server, metering loop. */
export async function startSession(
  config: SessionConfig,
  log: Logger,
  outside: {
    authenticate: Authenticator;
    billing: BillingPort;
    experts: ExpertDirectory;
    notifier: Notifier;
    /** The user service's copy of blocks and rating summaries (the safety outbox's receiver). */
    mirror: SafetyMirror;
    backOffice?: BackOffice;
    metrics?: ServiceMetrics;
    onShutdown?: Array<() => Promise<void>>;
    /** Staff actions into auth's audit log (main.ts: the platform identity's recorder). */
    recordStaffAction?: StaffActionRecorder;
  },
): Promise<{ server: GrpcServer; port: number }> {
  await migrateDatabase(config.DATABASE_URL, SESSION_MIGRATIONS);
  const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  const bus = createBus(config.REDIS_URL, { log, registry: outside.metrics?.registry });
  const shutdownHooks: Array<() => Promise<void>> = [];
  const relay = createNotificationRelay({
    sql: database.sql,
    table: NOTIFICATION_OUTBOX,
    notifier: outside.notifier,
    log,
  });
  const { server, metering, catchUp, safety, sessions } = buildSessionServer({
    sql: database.sql,
    bus,
    billing: outside.billing,
    experts: outside.experts,
    rules: rulesFromConfig(config),
    disputes: disputeRulesFromConfig(config),
    backOffice: outside.backOffice,
    mirror: outside.mirror,
    log,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    heartbeatMs: config.HEARTBEAT_MS,
    metering: { chunkSize: config.METERING_CHUNK_SIZE, parallelChunks: config.METERING_PARALLEL_CHUNKS },
    watch: { pollMs: config.WATCH_POLL_MS, checkMs: config.WATCH_CHECK_MS },
    authenticate: outside.authenticate,
    recordStaffAction: outside.recordStaffAction,
    metrics: outside.metrics,
    onShutdown: shutdownHooks,
    readiness: [() => database.ping()],
  });
  const safetyRelay = createSafetyRelay(database.sql, outside.mirror, sessions.closeBetween, log);
  shutdownHooks.push(
    startMeteringLoop(metering, config.METERING_INTERVAL_MS, log),
    startMetricsPublisher(safety, config.METRICS_PUBLISH_MS, log),
    relay.stop,
    safetyRelay.stop,
    async () => catchUp.close(),
    ...(outside.onShutdown ?? []),
    () => bus.close(),
    database.close,
  );
  await relay.start();
  await safetyRelay.start();
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port };
}
