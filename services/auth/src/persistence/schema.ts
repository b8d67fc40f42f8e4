import { outboxTable } from "@parley/kit/outbox";
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgSchema,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

export const auth = pgSchema("auth");

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * One row per person. Secrets are never stored in the clear: the password as an argon2id
 * hash, the TOTP secret sealed with the server key. Accounts created by ExchangeToken for a
 * partner's synced user have no password and carry the partner id.
 */
export const accounts = auth.table(
  "accounts",
  {
    id: uuid("id").primaryKey(),
    email: text("email"),
    phone: text("phone"),
    passwordHash: text("password_hash"),
    role: text("role").notNull().default("user"),
    partnerId: text("partner_id"),
    totpSecretSealed: text("totp_secret_sealed"),
    totpEnabled: boolean("totp_enabled").notNull().default(false),
    /** The last TOTP time step accepted: a code is never accepted twice. */
    totpLastStep: bigint("totp_last_step", { mode: "number" }).notNull().default(0),
    createdAt: at("created_at").notNull().defaultNow(),
    passwordChangedAt: at("password_changed_at"),
    /** active; suspended by staff (no sign-in, every credential revoked); deleted by the person. */
    status: text("status", { enum: ["active", "suspended", "deleted"] })
      .notNull()
      .default("active"),
    statusChangedAt: at("status_changed_at"),
    /** When the current email / phone was proven by a code (cleared when it changes or is erased). */
    emailVerifiedAt: at("email_verified_at"),
    phoneVerifiedAt: at("phone_verified_at"),
  },
  (table) => [
    check("accounts_status_check", sql`${table.status} in ('active', 'suspended', 'deleted')`),
    check(
      "accounts_role_check",
      sql`${table.role} in ('user', 'expert', 'operator', 'admin', 'support', 'moderator')`,
    ),
    uniqueIndex("accounts_email_key").on(table.email),
    uniqueIndex("accounts_phone_key").on(table.phone),
    index("accounts_admins_idx").on(table.role).where(sql`role = 'admin'`),
  ],
);

/** A login session: one refresh-token family, one device. */
export const loginSessions = auth.table(
  "login_sessions",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id),
    deviceName: text("device_name").notNull().default(""),
    ipAddress: text("ip_address").notNull().default(""),
    userAgent: text("user_agent").notNull().default(""),
    assurance: text("assurance").notNull(),
    partnerId: text("partner_id"),
    /** The partner key that obtained it (ExchangeToken): revoking the key revokes the session. */
    apiKeyId: uuid("api_key_id"),
    createdAt: at("created_at").notNull(),
    lastUsedAt: at("last_used_at").notNull(),
    /** Idle timeout: moves forward with every refresh. */
    idleExpiresAt: at("idle_expires_at").notNull(),
    /** Hard limit however often the session is refreshed. */
    absoluteExpiresAt: at("absolute_expires_at").notNull(),
    revokedAt: at("revoked_at"),
    revokeReason: text("revoke_reason"),
  },
  (table) => [
    index("login_sessions_account_idx").on(table.accountId, table.createdAt, table.id),
    index("login_sessions_api_key_idx").on(table.apiKeyId).where(sql`api_key_id is not null`),
  ],
);

/**
 * Refresh tokens, stored as keyed hashes. A spent token points at its successor and, for a
 * few seconds, keeps that successor's token pair sealed, so a client that lost the answer
 * (or raced itself) gets the same pair again instead of a second one.
 */
export const refreshTokens = auth.table(
  "refresh_tokens",
  {
    id: uuid("id").primaryKey(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => loginSessions.id),
    tokenHash: text("token_hash").notNull(),
    createdAt: at("created_at").notNull(),
    spentAt: at("spent_at"),
    successorId: uuid("successor_id"),
    successorSealed: text("successor_sealed"),
  },
  (table) => [
    uniqueIndex("refresh_tokens_hash_key").on(table.tokenHash),
    index("refresh_tokens_session_idx").on(table.sessionId),
    // The few rows still holding a sealed pair, found by the sweep that forgets them.
    index("refresh_tokens_sealed_idx").on(table.spentAt).where(sql`${table.successorSealed} is not null`),
  ],
);

/** A password login waiting for its second factor. */
export const mfaChallenges = auth.table("mfa_challenges", {
  id: uuid("id").primaryKey(),
  tokenHash: text("token_hash").notNull().unique(),
  accountId: uuid("account_id")
    .notNull()
    .references(() => accounts.id),
  deviceName: text("device_name").notNull().default(""),
  ipAddress: text("ip_address").notNull().default(""),
  userAgent: text("user_agent").notNull().default(""),
  expiresAt: at("expires_at").notNull(),
  usedAt: at("used_at"),
});

export const backupCodes = auth.table(
  "backup_codes",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id),
    codeHash: text("code_hash").notNull(),
    usedAt: at("used_at"),
  },
  (table) => [uniqueIndex("backup_codes_account_code_key").on(table.accountId, table.codeHash)],
);

export const passwordResets = auth.table("password_resets", {
  id: uuid("id").primaryKey(),
  tokenHash: text("token_hash").notNull().unique(),
  accountId: uuid("account_id")
    .notNull()
    .references(() => accounts.id),
  createdAt: at("created_at").notNull(),
  expiresAt: at("expires_at").notNull(),
  usedAt: at("used_at"),
});

export const apiKeys = auth.table(
  "api_keys",
  {
    id: uuid("id").primaryKey(),
    partnerId: text("partner_id").notNull(),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    secretHash: text("secret_hash").notNull().unique(),
    scopes: text("scopes").array().notNull(),
    /** CreateApiKey's idempotency key, with a digest of its parameters. */
    requestId: text("request_id").notNull().unique(),
    requestDigest: text("request_digest").notNull(),
    createdBy: uuid("created_by").notNull(),
    createdAt: at("created_at").notNull(),
    expiresAt: at("expires_at"),
    revokedAt: at("revoked_at"),
    lastUsedAt: at("last_used_at"),
  },
  (table) => [index("api_keys_partner_idx").on(table.partnerId, table.createdAt)],
);

/**
 * Signing keys. The private key is sealed with the key from SIGNING_KEY_SECRET. A key is
 * published from creation, signs from `activates_at` until a newer key activates, and leaves
 * the key set at `expires_at` (set at rotation: when its last token has expired).
 */
export const signingKeys = auth.table("signing_keys", {
  kid: text("kid").primaryKey(),
  privateKeySealed: text("private_key_sealed").notNull(),
  publicJwk: jsonb("public_jwk").$type<Record<string, string>>().notNull(),
  createdAt: at("created_at").notNull(),
  activatesAt: at("activates_at").notNull(),
  expiresAt: at("expires_at"),
});

/**
 * Work to do after a transaction commits, written in that transaction (kit outbox): creating
 * the user profile of a new account, security notices, reset codes. Each payload is an
 * `OutboxMessage` (`{kind, payload}`); the relay deletes a row once delivered.
 */
export const outbox = outboxTable(auth, "outbox");

/**
 * Brute-force attempt counters in Postgres: the shared counters when there is no Redis, and
 * the fallback while Redis is unreachable. One fixed window per key; rows whose window has
 * long ended are swept.
 */
export const attemptCounters = auth.table(
  "attempt_counters",
  {
    key: text("key").primaryKey(),
    count: integer("count").notNull(),
    windowEndsAt: at("window_ends_at").notNull(),
  },
  (table) => [index("attempt_counters_window_idx").on(table.windowEndsAt)],
);

/**
 * The audit log of staff actions (the back office): who, what, on whom, why, the state before
 * and after, the request id, and refused attempts. Append-only: the database refuses UPDATE,
 * DELETE and TRUNCATE (migration 0003), so no code path or hand-typed query rewrites it.
 */
export const auditEvents = auth.table(
  "audit_events",
  {
    id: uuid("id").primaryKey(),
    actorId: uuid("actor_id").notNull(),
    actorRole: text("actor_role").notNull(),
    action: text("action").notNull(),
    method: text("method").notNull(),
    targetUserId: uuid("target_user_id"),
    reason: text("reason").notNull(),
    outcome: text("outcome", { enum: ["done", "denied"] }).notNull(),
    before: jsonb("before").$type<Record<string, unknown>>(),
    after: jsonb("after").$type<Record<string, unknown>>(),
    requestId: text("request_id").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    check("audit_events_outcome_check", sql`${table.outcome} in ('done', 'denied')`),
    index("audit_events_time_idx").on(table.createdAt, table.id),
    index("audit_events_target_idx").on(table.targetUserId, table.createdAt, table.id),
    index("audit_events_actor_idx").on(table.actorId, table.createdAt, table.id),
  ],
);

/**
 * Credentials revoked before their natural end: every token of a person issued up to
 * `revoked_at` (subject `user:<id>`, on suspension, deletion or demotion), every token of one
 * login session (`session:<id>`, when it is revoked) or a partner API key (subject
 * `api_key:<id>`). Every verifier polls these (ListRevocations, by `seq`) and refuses what they
 * name at once instead of when the token expires. Rows older than the longest token life are
 * no longer served.
 */
export const revocations = auth.table(
  "revocations",
  {
    seq: bigint("seq", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    subject: text("subject").notNull(),
    reason: text("reason").notNull(),
    revokedAt: at("revoked_at").notNull(),
  },
  (table) => [index("revocations_time_idx").on(table.revokedAt)],
);

/**
 * One-time codes proving an email or phone: a keyed hash, the address it was sent to, a short
 * life and a count of wrong guesses (5 spend it). A new request spends the ones before.
 */
export const contactVerifications = auth.table(
  "contact_verifications",
  {
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id),
    channel: text("channel", { enum: ["email", "phone"] }).notNull(),
    address: text("address").notNull(),
    codeHash: text("code_hash").notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: at("created_at").notNull(),
    expiresAt: at("expires_at").notNull(),
    usedAt: at("used_at"),
  },
  (table) => [index("contact_verifications_account_idx").on(table.accountId, table.channel, table.createdAt)],
);
