import path from "node:path";
import type { Authenticator } from "@parley/kit/auth";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import { bindService, createGrpcServer, type GrpcServer, type ServiceBinding } from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createPaging } from "@parley/kit/paging";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { UserConfig } from "./config";
import type { PresenceStore } from "./domain/ports";
import { createUsers, type Users } from "./domain/users";
import { userHandlers } from "./grpc/handlers";
import { userPermissions } from "./grpc/permissions";
import { createInProcessPresence, createRedisPresence } from "./persistence/presence";
import { createUserStore } from "./persistence/store";

export const USER_MIGRATIONS = {
  migrationsFolder: path.resolve(import.meta.dirname, "../drizzle"),
  schema: "users",
};

export interface UserServiceDeps {
  sql: Sql;
  presence: PresenceStore;
  /** PAGE_TOKEN_SECRET; a process-local key when absent (tests). */
  pageTokenSecret?: string;
  now?: () => Date;
}

/** The user use cases and their gRPC binding over an existing pool (no server yet). */
export function createUserService(deps: UserServiceDeps): { users: Users; binding: ServiceBinding } {
  const users = createUsers({
    store: createUserStore(deps.sql),
    presence: deps.presence,
    now: deps.now ?? (() => new Date()),
  });
  return {
    users,
    binding: bindService(
      UserServiceService,
      userHandlers(users, createPaging(deps.pageTokenSecret)),
      userPermissions,
    ),
  };
}

export interface UserServerDeps extends UserServiceDeps {
  log: Logger;
  authenticate: Authenticator;
  metrics?: ServiceMetrics;
  onShutdown?: Array<() => Promise<void>>;
  readiness?: Array<() => Promise<void>>;
}

/** The user gRPC server over an existing pool, unbound: the caller listens. */
export function buildUserServer(deps: UserServerDeps): { server: GrpcServer; users: Users } {
  const { users, binding } = createUserService(deps);
  const server = createGrpcServer({
    name: "user",
    log: deps.log,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    services: [binding],
    onShutdown: deps.onShutdown,
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
  const { server } = buildUserServer({
    sql: database.sql,
    presence,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    log,
    authenticate,
    metrics,
    onShutdown: [presence.close, database.close],
    readiness: [() => database.ping()],
  });
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port };
}
