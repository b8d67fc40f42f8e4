import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  char,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

export const users = pgSchema("users");

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export interface StoredPreferences {
  locale: string;
  timeZone: string;
  emailNotifications: boolean;
  pushNotifications: boolean;
}

/**
 * One row per auth account (same id). Partner-synced users carry (partner_id, external_id),
 * unique together so concurrent syncs of one record converge on one row via ON CONFLICT.
 */
export const profiles = users.table(
  "profiles",
  {
    userId: uuid("user_id").primaryKey(),
    displayName: text("display_name").notNull(),
    /**
     * The name is a stand-in this service made up ("New user" for a profile read or changed
     * before auth's EnsureProfile arrived): the first name auth sends replaces it, and a name
     * the person sets themselves is never replaced.
     */
    displayNameIsPlaceholder: boolean("display_name_is_placeholder").notNull().default(false),
    avatarUrl: text("avatar_url").notNull().default(""),
    bio: text("bio").notNull().default(""),
    languages: text("languages").array().notNull().default(sql`'{}'`),
    preferences: jsonb("preferences").$type<StoredPreferences>().notNull(),
    verified: boolean("verified").notNull().default(false),
    partnerId: text("partner_id"),
    externalId: text("external_id"),
    syncStatus: text("sync_status", { enum: ["created", "updated"] }),
    syncCount: integer("sync_count").notNull().default(0),
    lastSyncedAt: at("last_synced_at"),
    createdAt: at("created_at").notNull().defaultNow(),
    updatedAt: at("updated_at").notNull().defaultNow(),
    /** The account's status as auth tells it: only active experts are in discovery. */
    status: text("status", { enum: ["active", "suspended", "deleted"] })
      .notNull()
      .default("active"),
  },
  (table) => [
    uniqueIndex("profiles_partner_external_unique").on(table.partnerId, table.externalId),
    check("profiles_sync_pair", sql`(${table.partnerId} is null) = (${table.externalId} is null)`),
  ],
);

/**
 * Expert profiles. `availability` is the expert's own choice; BUSY and presence-OFFLINE
 * are derived when read. Ratings are kept as sum + count (exact), with the average as a
 * stored generated column so it can be indexed for the rating sort and filter.
 */
export const experts = users.table(
  "experts",
  {
    userId: uuid("user_id")
      .primaryKey()
      .references(() => profiles.userId),
    currency: char("currency", { length: 3 }).notNull(),
    chatRateMinor: bigint("chat_rate_minor", { mode: "bigint" }).notNull(),
    callRateMinor: bigint("call_rate_minor", { mode: "bigint" }).notNull(),
    maxConcurrentSessions: integer("max_concurrent_sessions").notNull(),
    specialisations: text("specialisations").array().notNull(),
    languages: text("languages").array().notNull(),
    experienceYears: integer("experience_years").notNull(),
    bio: text("bio").notNull().default(""),
    availability: text("availability", { enum: ["available", "unavailable", "offline"] })
      .notNull()
      .default("offline"),
    activeSessions: integer("active_sessions").notNull().default(0),
    ratingSum: bigint("rating_sum", { mode: "bigint" }).notNull().default(sql`0`),
    ratingCount: integer("rating_count").notNull().default(0),
    ratingAverage: doublePrecision("rating_average")
      .notNull()
      .generatedAlwaysAs(sql`case when rating_count > 0 then rating_sum::float8 / rating_count else 0 end`),
    createdAt: at("created_at").notNull().defaultNow(),
    updatedAt: at("updated_at").notNull().defaultNow(),
  },
  (table) => [
    check("experts_rates_non_negative", sql`${table.chatRateMinor} >= 0 and ${table.callRateMinor} >= 0`),
    check("experts_capacity_positive", sql`${table.maxConcurrentSessions} > 0`),
    // Array containment filters (specialisations @> '{tarot}').
    index("experts_specialisations_gin").using("gin", table.specialisations),
    index("experts_languages_gin").using("gin", table.languages),
    // One btree per sort, ending in user_id so the keyset cursor is a total order; every
    // key of a sort runs in one direction, so descending sorts scan these backwards.
    index("experts_rating_sort").on(table.ratingAverage, table.ratingCount, table.userId),
    index("experts_chat_rate_sort").on(table.chatRateMinor, table.userId),
    index("experts_call_rate_sort").on(table.callRateMinor, table.userId),
    index("experts_experience_sort").on(table.experienceYears, table.userId),
  ],
);

/** One row per rated session: the primary key makes UpdateRatingSummary count a session once. */
export const expertRatings = users.table("expert_ratings", {
  sessionId: uuid("session_id").primaryKey(),
  expertId: uuid("expert_id")
    .notNull()
    .references(() => experts.userId),
  rating: smallint("rating").notNull(),
  createdAt: at("created_at").notNull().defaultNow(),
});

/**
 * Each person's inbox. `seq` runs 1, 2, ... per person (allocated from notification_heads
 * under its row lock, so there are no gaps): WatchMe resumes after the last seq a client
 * saw. (producer, event_id) is the producer's outbox id, so a retried Notify stores nothing new.
 */
export const notifications = users.table(
  "notifications",
  {
    userId: uuid("user_id").notNull(),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    notificationId: uuid("notification_id").notNull().unique(),
    producer: text("producer").notNull(),
    eventId: text("event_id").notNull(),
    kind: text("kind").notNull(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    data: jsonb("data").$type<Record<string, string>>().notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
    readAt: at("read_at"),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.seq] }),
    uniqueIndex("notifications_event_unique").on(table.producer, table.eventId),
    // Unread counts read only the unread rows.
    index("notifications_unread").on(table.userId, table.seq).where(sql`${table.readAt} is null`),
  ],
);

/** The last seq given out per person; its row lock orders one person's notifications. */
export const notificationHeads = users.table("notification_heads", {
  userId: uuid("user_id").primaryKey(),
  lastSeq: bigint("last_seq", { mode: "bigint" }).notNull(),
});

/**
 * A person's favourite experts. `last_notified_at` makes "came online" at most once per
 * interval per person and expert: the fan-out claims rows with one UPDATE.
 */
export const favourites = users.table(
  "favourites",
  {
    userId: uuid("user_id").notNull(),
    expertId: uuid("expert_id")
      .notNull()
      .references(() => experts.userId),
    createdAt: at("created_at").notNull().defaultNow(),
    lastNotifiedAt: at("last_notified_at"),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.expertId] }),
    index("favourites_by_expert").on(table.expertId),
    index("favourites_by_user_recent").on(table.userId, table.createdAt, table.expertId),
  ],
);

/** Where a person is reached outside the app: the account's email (from auth's EnsureProfile) and phone. */
export const contactPoints = users.table("contact_points", {
  userId: uuid("user_id").primaryKey(),
  email: text("email"),
  phone: text("phone"),
  updatedAt: at("updated_at").notNull().defaultNow(),
});

/** Push devices, each registered by one login session (removed when it ends or the provider says gone). */
export const devices = users.table(
  "devices",
  {
    deviceId: uuid("device_id").primaryKey(),
    userId: uuid("user_id").notNull(),
    loginSessionId: text("login_session_id").notNull(),
    channel: text("channel", { enum: ["web_push", "mobile_push"] }).notNull(),
    /** Web Push endpoint, or the FCM token: unique per channel. */
    address: text("address").notNull(),
    p256dh: text("p256dh").notNull().default(""),
    auth: text("auth").notNull().default(""),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("devices_address").on(table.channel, table.address),
    index("devices_by_user").on(table.userId),
    index("devices_by_login_session").on(table.loginSessionId),
  ],
);

/** A person's choices that differ from the defaults, per channel and kind. */
export const channelPreferences = users.table(
  "channel_preferences",
  {
    userId: uuid("user_id").notNull(),
    channel: text("channel").notNull(),
    kind: text("kind").notNull(),
    enabled: boolean("enabled").notNull(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.channel, table.kind] })],
);

/**
 * One notification to deliver on one channel (to one device for push), planned in the
 * transaction that stored the notification; the delivery worker claims due rows (SKIP LOCKED,
 * under a lease), and records every attempt (`attempts`, `last_error`, `delivery_attempts`).
 * Status: pending → sent | gone (the provider forgot the device) | failed | rate_limited.
 */
export const deliveries = users.table(
  "deliveries",
  {
    deliveryId: uuid("delivery_id").primaryKey(),
    notificationId: uuid("notification_id").notNull(),
    userId: uuid("user_id").notNull(),
    channel: text("channel").notNull(),
    deviceId: uuid("device_id"),
    status: text("status", { enum: ["pending", "sent", "gone", "failed", "rate_limited"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: at("next_attempt_at").notNull().defaultNow(),
    lastError: text("last_error"),
    createdAt: at("created_at").notNull().defaultNow(),
    sentAt: at("sent_at"),
  },
  (table) => [
    index("deliveries_due").on(table.nextAttemptAt).where(sql`status = 'pending'`),
    // Per-person rate limits count recent deliveries per channel.
    index("deliveries_recent").on(table.userId, table.channel, table.createdAt),
    index("deliveries_by_notification").on(table.notificationId),
  ],
);

/** Every attempt of a delivery, with its outcome. */
export const deliveryAttempts = users.table(
  "delivery_attempts",
  {
    deliveryId: uuid("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    at: at("at").notNull().defaultNow(),
    outcome: text("outcome").notNull(),
    detail: text("detail").notNull().default(""),
  },
  (table) => [primaryKey({ columns: [table.deliveryId, table.attempt] })],
);

export const schema = {
  profiles,
  experts,
  expertRatings,
  notifications,
  notificationHeads,
  favourites,
  contactPoints,
  devices,
  channelPreferences,
  deliveries,
  deliveryAttempts,
};

/**
 * The session service's blocks, as discovery needs them (session owns them and sends each
 * change through its safety outbox): one row per ordered pair, the latest change winning by
 * `changed_at`, so changes applied in any order end at the newest state.
 */
export const blocks = users.table(
  "blocks",
  {
    blockerId: uuid("blocker_id").notNull(),
    blockedId: uuid("blocked_id").notNull(),
    blocked: boolean("blocked").notNull(),
    changedAt: at("changed_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.blockerId, table.blockedId] }),
    index("blocks_by_blocked").on(table.blockedId, table.blockerId),
  ],
);

/**
 * An expert's public figures as the session service last computed them (UpdateExpertMetrics):
 * the newest `as_of` wins. Shown with GetExpert; the monthly figure only in its own month.
 */
export const expertMetrics = users.table("expert_metrics", {
  expertId: uuid("expert_id").primaryKey(),
  month: text("month").notNull(),
  completedSessions: integer("completed_sessions").notNull(),
  repeatClientRate: doublePrecision("repeat_client_rate").notNull(),
  medianFirstResponseSeconds: integer("median_first_response_seconds"),
  asOf: at("as_of").notNull(),
});
