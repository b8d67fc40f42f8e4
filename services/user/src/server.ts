import path from "node:path";
import type { Authenticator } from "@parley/kit/auth";
import { type Bus, createBus, createInProcessBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import { bindService, createGrpcServer, type GrpcServer, type ServiceBinding } from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createPaging } from "@parley/kit/paging";
import { createCatchUp } from "@parley/kit/watch";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { UserConfig } from "./config";
import { createFavourites, type Favourites } from "./domain/favourites";
import { createNotifications, type Notifications } from "./domain/notifications";
import type { PresenceStore } from "./domain/ports";
import { createUsers, type Users } from "./domain/users";
import { userHandlers } from "./grpc/handlers";
import { userPermissions } from "./grpc/permissions";
import { createFavouriteStore } from "./persistence/favourites";
import { busNotificationFeed, createNotificationStore } from "./persistence/notifications";
import { createInProcessPresence, createRedisPresence } from "./persistence/presence";
import { createUserStore } from "./persistence/store";

export const USER_MIGRATIONS = {
  migrationsFolder: path.resolve(import.meta.dirname, "../drizzle"),
  schema: "users",
};

export interface UserServiceDeps {
  sql: Sql;
  presence: PresenceStore;
  /** Live notifications between instances; in-process when absent (one instance, tests). */
  bus?: Bus;
  log: Logger;
  /** PAGE_TOKEN_SECRET; a process-local key when absent (tests). */
  pageTokenSecret?: string;
  now?: () => Date;
  /** WatchMe: heartbeat interval and catch-up checks while the bus is down (pollMs) and up (checkMs). */
  watch?: { heartbeatMs: number; pollMs: number; checkMs: number };
  /** A person hears that one favourite came online at most once per this many seconds (default 3600). */
  favouriteOnlineIntervalSeconds?: number;
}

export interface UserService {
  users: Users;
  notifications: Notifications;
  favourites: Favourites;
  binding: ServiceBinding;
  close(): void;
}

/** The user use cases and their gRPC binding over an existing pool (no server yet). */
export function createUserService(deps: UserServiceDeps): UserService {
  const now = deps.now ?? (() => new Date());
  const store = createUserStore(deps.sql);
  let favourites: Favourites | undefined;
  const users = createUsers({
    store,
    presence: deps.presence,
    now,
    cameOnline: (expertId, at) =>
      void favourites
        ?.cameOnline(expertId, at)
        .catch((error: unknown) =>
          deps.log.warn({ err: error, expertId }, "favourite-online fan-out failed"),
        ),
  });
  const feed = busNotificationFeed(deps.bus ?? createInProcessBus(), deps.log);
  const notificationStore = createNotificationStore(deps.sql);
  const notifications = createNotifications({ store: notificationStore, feed, now });
  favourites = createFavourites({
    store: createFavouriteStore(deps.sql),
    getExpert: users.getExpert,
    notifications,
    now,
    intervalSeconds: deps.favouriteOnlineIntervalSeconds ?? 3_600,
    log: deps.log,
  });
  const catchUp = createCatchUp({
    feed,
    lastSeqs: notificationStore.lastSeqs,
    pollMs: deps.watch?.pollMs ?? 1_000,
    checkMs: deps.watch?.checkMs ?? 10_000,
    log: deps.log,
  });
  return {
    users,
    notifications,
    favourites,
    binding: bindService(
      UserServiceService,
      userHandlers(
        users,
        notifications,
        favourites,
        { feed, catchUp, heartbeatMs: deps.watch?.heartbeatMs ?? 15_000 },
        createPaging(deps.pageTokenSecret),
      ),
      userPermissions,
    ),
    close: () => catchUp.close(),
  };
}

export interface UserServerDeps extends UserServiceDeps {
  authenticate: Authenticator;
  metrics?: ServiceMetrics;
  onShutdown?: Array<() => Promise<void>>;
  readiness?: Array<() => Promise<void>>;
}

/** The user gRPC server over an existing pool, unbound: the caller listens. */
export function buildUserServer(deps: UserServerDeps): { server: GrpcServer; users: Users } {
  const { users, binding, close } = createUserService(deps);
  const server = createGrpcServer({
    name: "user",
    log: deps.log,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    services: [binding],
    onShutdown: [async () => close(), ...(deps.onShutdown ?? [])],
    readiness: deps.readiness,
  });
  return { server, users };
}

/** Everything main.ts does after reading the environment: migrate, pool, presence, server. */
export async function startUser(
  config: UserConfig,
  log: Logger,
  authenticate: Authenticator,
  metrics?: ServiceMetrics,
): Promise<{ server: GrpcServer; port: number }> {
  await migrateDatabase(config.DATABASE_URL, USER_MIGRATIONS);
  const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  const presence = config.REDIS_URL
    ? createRedisPresence(config.REDIS_URL, config.PRESENCE_TTL_SECONDS, undefined, log)
    : createInProcessPresence(config.PRESENCE_TTL_SECONDS, () => new Date());
  const bus = createBus(config.REDIS_URL, { log, registry: metrics?.registry });
  const { server } = buildUserServer({
    sql: database.sql,
    presence,
    bus,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    favouriteOnlineIntervalSeconds: config.FAVOURITE_ONLINE_INTERVAL_SECONDS,
    watch: {
      heartbeatMs: config.HEARTBEAT_MS,
      pollMs: config.WATCH_POLL_MS,
      checkMs: config.WATCH_CHECK_MS,
    },
    log,
    authenticate,
    metrics,
    onShutdown: [presence.close, bus.close, database.close],
    readiness: [() => database.ping()],
  });
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port };
}
