import { identityEnv } from "@parley/kit/auth";
import { env, z } from "@parley/kit/config";

/** Session's environment; every variable is validated at start. */
export const sessionConfigShape = {
  ...identityEnv,
  GRPC_PORT: env.port(50053),
  METRICS_PORT: env.port(9463),
  DATABASE_URL: env.postgresUrl(),
  DATABASE_POOL_MAX: env.positiveInt(20),
  REDIS_URL: env.redisUrl(),
  LOG_LEVEL: env.logLevel(),
  PAGE_TOKEN_SECRET: env.pageTokenSecret(),
  AUTH_ADDRESS: env.address("127.0.0.1:50051"),
  USER_ADDRESS: env.address("127.0.0.1:50052"),
  BILLING_ADDRESS: env.address("127.0.0.1:50054"),
  /** Minutes the hold placed at request time covers. */
  MIN_MINUTES: env.positiveInt(5),
  /** An unanswered request expires (hold released) after this many seconds. */
  REQUEST_TTL_SECONDS: env.positiveInt(300),
  HOLD_TTL_SECONDS: env.positiveInt(6 * 3600),
  /** A participant may be disconnected this long before metering pauses. */
  PAUSE_GRACE_SECONDS: env.positiveInt(15),
  /** A participant disconnected this long ends the session as `disconnected`. */
  DISCONNECT_TIMEOUT_SECONDS: env.positiveInt(120),
  /**
   * A side marked connected that sends no presence heartbeat (every ≤ 30 s) for this long is taken
   * as gone: its offline report was lost (an edge killed, session unreachable). Its minutes wait
   * from 30 s before that. 0 turns it off (while instances without heartbeats still run).
   */
  PRESENCE_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .refine((seconds) => seconds === 0 || seconds >= 90, "0 (off) or at least 90")
    .default(90),
  AVERAGE_SESSION_SECONDS: env.positiveInt(600),
  /** Requests one expert may have waiting; the next is refused (QUEUE_FULL). */
  MAX_QUEUE_LENGTH: env.positiveInt(50),
  /** Length of a billed minute in seconds: 60 except in demos and end-to-end tests. */
  MINUTE_SECONDS: env.positiveInt(60),
  /** How often this instance runs the metering worker (pause between the end of a tick and the next). */
  METERING_INTERVAL_MS: env.positiveInt(1_000),
  /** How long a metering or settlement claim is one worker's; then another may take it over. */
  METERING_LEASE_SECONDS: env.positiveInt(30),
  /** Minutes charged per ChargeBatch call (billing takes at most 1,000). */
  METERING_CHUNK_SIZE: z.coerce.number().int().min(1).max(1_000).default(1_000),
  /** Chunks this instance has in flight at once. */
  METERING_PARALLEL_CHUNKS: env.positiveInt(4),
  HEARTBEAT_MS: env.positiveInt(15_000),
  /** While the bus is down, how often watchers are caught up from Postgres. */
  WATCH_POLL_MS: env.positiveInt(1_000),
  /** While it is up, how often watchers are checked for events a publisher had to drop. */
  WATCH_CHECK_MS: env.positiveInt(10_000),
  /** A session may be disputed this many hours after it ended. */
  DISPUTE_WINDOW_HOURS: env.positiveInt(48),
  /** Rules that propose a dispute's outcome, comma-separated (empty: support decides every one). */
  DISPUTE_RULES: env.list("expert_no_reply").pipe(z.array(z.enum(["expert_no_reply"]))),
  /** expert_no_reply: the expert's first message must come within this many seconds of the start. */
  DISPUTE_NO_REPLY_SECONDS: env.positiveInt(120),
  /** How often experts' changed public figures are sent to their profile (user service). */
  METRICS_PUBLISH_MS: env.positiveInt(2_000),
  /** What the contact-detail filter does with phone numbers, emails, payment handles in a message. */
  CONTACT_FILTER: z.enum(["off", "mask", "flag", "refuse"]).default("flag"),
};

export type SessionConfig = z.infer<z.ZodObject<typeof sessionConfigShape>>;
