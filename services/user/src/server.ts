import path from "node:path";
import type { Authenticator } from "@parley/kit/auth";
import { type Bus, createBus, createInProcessBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import {
  bindService,
  createGrpcServer,
  type GrpcServer,
  type ServiceBinding,
  type StaffActionRecorder,
} from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createPaging } from "@parley/kit/paging";
import { createCatchUp } from "@parley/kit/watch";
import { UserSafetyServiceService } from "@parley/proto/parley/user/v1/safety";
import { UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { UserConfig } from "./config";
import { emailAdapter } from "./delivery/email";
import { fcmAdapter } from "./delivery/fcm";
import { smsAdapter } from "./delivery/sms";
import { webPushAdapter } from "./delivery/web-push";
import {
  createDevices,
  DEFAULT_DELIVERY_RULES,
  type DeliverDeps,
  type DeliveryRules,
} from "./domain/delivery";
import { createFavourites, type Favourites } from "./domain/favourites";
import { loggableBody } from "./domain/model";
import { createNotifications, type Notifications } from "./domain/notifications";
import type { PresenceStore } from "./domain/ports";
import { createSafetyCopy } from "./domain/safety";
import { type AddressSender, createUserStaff } from "./domain/staff";
import { createUsers, type Users } from "./domain/users";
import { USER_STAFF_ACTIONS } from "./grpc/audited";
import { userHandlers } from "./grpc/handlers";
import { userPermissions } from "./grpc/permissions";
import { userSafetyHandlers, userSafetyPermissions } from "./grpc/safety";
import { userStaffHandlers, userStaffPermissions } from "./grpc/staff";
import { createDeliveryStore } from "./persistence/delivery";
import { createFavouriteStore } from "./persistence/favourites";
import { busNotificationFeed, createNotificationStore } from "./persistence/notifications";
import { createInProcessPresence, createRedisPresence } from "./persistence/presence";
import { createSafetyCopyStore } from "./persistence/safety";
import { createProfileStatusStore } from "./persistence/staff";
import { createUserStore } from "./persistence/store";
import { createDeliveryWorker } from "./workers/delivery";

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
  /** Delivery beyond the inbox: one adapter per configured channel; none: in-app only. */
  delivery?: {
    adapters: DeliverDeps["adapters"];
    rules?: DeliveryRules;
    vapidPublicKey?: string;
    pollMs?: number;
  };
  /** PASSWORD_RESET_URL: the apps' page for choosing a new password; reset messages link to it. */
  passwordResetUrl?: string;
}

export interface UserService {
  users: Users;
  notifications: Notifications;
  favourites: Favourites;
  binding: ServiceBinding;
  /** UserStaffService: what the back office (auth) asks of profiles. */
  staff: ServiceBinding;
  /** UserSafetyService: the session service's blocks and retracted ratings. */
  safetyBinding: ServiceBinding;
  deliveryWorker: ReturnType<typeof createDeliveryWorker> | undefined;
  close(): Promise<void>;
}

/**
 * Messages to an address (codes, password resets) through the channel's adapter; with none
 * configured (SMS without a provider), written to the log instead so a newcomer sees what would
 * have been sent — the log transport, which withholds the code or token a message carries.
 */
function addressSender(adapters: DeliverDeps["adapters"], log: Logger): AddressSender {
  return async (target, message) => {
    const adapter = adapters[target.channel];
    if (adapter) return adapter.send(target, message);
    log.info(
      { channel: target.channel, kind: message.kind, text: loggableBody(message) },
      "message (no adapter: logged, not sent)",
    );
    return { outcome: "sent" };
  };
}

/** The user use cases and their gRPC binding over an existing pool (no server yet). */
export function createUserService(deps: UserServiceDeps): UserService {
  const now = deps.now ?? (() => new Date());
  const store = createUserStore(deps.sql);
  let favourites: Favourites | undefined;
  const deliveryStore = createDeliveryStore(deps.sql);
  const rules = deps.delivery?.rules ?? DEFAULT_DELIVERY_RULES;
  const worker =
    deps.delivery &&
    createDeliveryWorker(
      { store: deliveryStore, adapters: deps.delivery.adapters, rules },
      deps.log,
      deps.delivery.pollMs,
    );
  const devices = createDevices({ store: deliveryStore, now, rules });
  const users = createUsers({
    store,
    presence: deps.presence,
    now,
    contacts: deliveryStore,
    cameOnline: (expertId, at) =>
      void favourites
        ?.cameOnline(expertId, at)
        .catch((error: unknown) =>
          deps.log.warn({ err: error, expertId }, "favourite-online fan-out failed"),
        ),
  });
  const feed = busNotificationFeed(deps.bus ?? createInProcessBus(), deps.log);
  const notificationStore = createNotificationStore(deps.sql);
  const notifications = createNotifications({
    store: notificationStore,
    feed,
    now,
    delivery: worker && { store: deliveryStore, rules, nudge: worker.nudge },
  });
  favourites = createFavourites({
    store: createFavouriteStore(deps.sql),
    getExpert: users.getExpert,
    notifications,
    now,
    intervalSeconds: deps.favouriteOnlineIntervalSeconds ?? 3_600,
    log: deps.log,
  });
  const safetyCopy = createSafetyCopy(createSafetyCopyStore(deps.sql), now);
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
        devices,
        deps.delivery?.vapidPublicKey ?? "",
        { feed, catchUp, heartbeatMs: deps.watch?.heartbeatMs ?? 15_000 },
        createPaging(deps.pageTokenSecret),
        safetyCopy.expertMetrics,
      ),
      userPermissions,
    ),
    staff: bindService(
      UserStaffServiceService,
      userStaffHandlers(
        createUserStaff({
          store: createProfileStatusStore(deps.sql),
          now,
          send: addressSender(deps.delivery?.adapters ?? {}, deps.log),
          people: notificationStore.people,
          passwordResetUrl: deps.passwordResetUrl,
        }),
        createPaging(deps.pageTokenSecret),
      ),
      userStaffPermissions,
    ),
    safetyBinding: bindService(
      UserSafetyServiceService,
      userSafetyHandlers(safetyCopy),
      userSafetyPermissions,
    ),
    deliveryWorker: worker,
    close: async () => {
      catchUp.close();
      await worker?.stop();
    },
  };
}

export interface UserServerDeps extends UserServiceDeps {
  authenticate: Authenticator;
  metrics?: ServiceMetrics;
  onShutdown?: Array<() => Promise<void>>;
  readiness?: Array<() => Promise<void>>;
  /** Staff actions into auth's audit log (the identity's recorder); unset: not recorded (tests). */
  recordStaffAction?: StaffActionRecorder;
}

/** The user gRPC server over an existing pool, unbound: the caller listens. */
export function buildUserServer(deps: UserServerDeps): { server: GrpcServer; users: Users } {
  const { users, binding, staff, safetyBinding, close } = createUserService(deps);
  const server = createGrpcServer({
    name: "user",
    log: deps.log,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    services: [binding, staff, safetyBinding],
    onShutdown: [close, ...(deps.onShutdown ?? [])],
    readiness: deps.readiness,
    staffActions: USER_STAFF_ACTIONS,
    recordStaffAction: deps.recordStaffAction,
  });
  return { server, users };
}

/** Everything main.ts does after reading the environment: migrate, pool, presence, server. */
export async function startUser(
  config: UserConfig,
  log: Logger,
  authenticate: Authenticator,
  metrics?: ServiceMetrics,
  /** Staff actions into auth's audit log (main.ts: the platform identity's recorder). */
  recordStaffAction?: StaffActionRecorder,
): Promise<{ server: GrpcServer; port: number }> {
  await migrateDatabase(config.DATABASE_URL, USER_MIGRATIONS);
  const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX });
  const presence = config.REDIS_URL
    ? createRedisPresence(config.REDIS_URL, config.PRESENCE_TTL_SECONDS, undefined, log)
    : createInProcessPresence(config.PRESENCE_TTL_SECONDS, () => new Date());
  const bus = createBus(config.REDIS_URL, { log, registry: metrics?.registry });
  const vapid =
    config.VAPID_PUBLIC_KEY && config.VAPID_PRIVATE_KEY
      ? {
          publicKey: config.VAPID_PUBLIC_KEY,
          privateKey: config.VAPID_PRIVATE_KEY,
          subject: config.VAPID_SUBJECT,
        }
      : undefined;
  const adapters: DeliverDeps["adapters"] = {
    email: emailAdapter({ smtpUrl: config.SMTP_URL, from: config.EMAIL_FROM, log }),
    ...(vapid ? { web_push: webPushAdapter(vapid) } : {}),
    ...(config.FCM_PROJECT_ID && config.FCM_SERVICE_ACCOUNT_JSON
      ? {
          mobile_push: fcmAdapter({
            baseUrl: config.FCM_BASE_URL,
            projectId: config.FCM_PROJECT_ID,
            serviceAccountJson: config.FCM_SERVICE_ACCOUNT_JSON,
          }),
        }
      : {}),
    ...(config.SMS_ACCOUNT_SID && config.SMS_AUTH_TOKEN && config.SMS_FROM
      ? {
          sms: smsAdapter({
            baseUrl: config.SMS_BASE_URL,
            accountSid: config.SMS_ACCOUNT_SID,
            authToken: config.SMS_AUTH_TOKEN,
            from: config.SMS_FROM,
          }),
        }
      : {}),
  };
  const { server } = buildUserServer({
    sql: database.sql,
    presence,
    bus,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    favouriteOnlineIntervalSeconds: config.FAVOURITE_ONLINE_INTERVAL_SECONDS,
    delivery: {
      adapters,
      vapidPublicKey: vapid?.publicKey,
      rules: { ...DEFAULT_DELIVERY_RULES, pushServices: config.WEB_PUSH_SERVICES },
    },
    passwordResetUrl: config.PASSWORD_RESET_URL,
    watch: {
      heartbeatMs: config.HEARTBEAT_MS,
      pollMs: config.WATCH_POLL_MS,
      checkMs: config.WATCH_CHECK_MS,
    },
    log,
    authenticate,
    recordStaffAction,
    metrics,
    onShutdown: [presence.close, bus.close, database.close],
    readiness: [() => database.ping()],
  });
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port };
}
