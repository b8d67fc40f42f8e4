import { identityEnv } from "@parley/kit/auth";
import { env, z } from "@parley/kit/config";
import { BROWSER_PUSH_SERVICES } from "./domain/delivery";

/** The user service's environment; every variable is validated at start. */
export const userConfigShape = {
  GRPC_PORT: env.port(50052),
  METRICS_PORT: env.port(9462),
  DATABASE_URL: env.postgresUrl(),
  DATABASE_POOL_MAX: env.positiveInt(20),
  /** Presence is shared through Redis when set; in-process (one instance) otherwise. */
  REDIS_URL: env.redisUrl(),
  LOG_LEVEL: env.logLevel(),
  PAGE_TOKEN_SECRET: env.pageTokenSecret(),
  ...identityEnv,
  AUTH_ADDRESS: env.address("127.0.0.1:50051"),
  /** How long one presence heartbeat keeps a person online. */
  PRESENCE_TTL_SECONDS: env.positiveInt(60),
  /** A person hears that one favourite expert came online at most once per this long. */
  FAVOURITE_ONLINE_INTERVAL_SECONDS: env.positiveInt(3_600),
  /** Web Push (VAPID) keys, base64url; `pnpm start` generates them into the local secrets. Unset: no web push. */
  VAPID_PUBLIC_KEY: z.string().optional(),
  VAPID_PRIVATE_KEY: z.string().optional(),
  VAPID_SUBJECT: z.string().default("mailto:notifications@parley.local"),
  /**
   * Where Web Push endpoints may point: `scheme://host` entries (the host and its subdomains).
   * The default is the browsers' push services.
   */
  WEB_PUSH_SERVICES: env.list(BROWSER_PUSH_SERVICES.join(",")),
  /** smtp(s)://user:pass@host:port; unset: emails are written to this service's log. */
  SMTP_URL: z.string().optional(),
  EMAIL_FROM: z.string().default("Parley <no-reply@parley.local>"),
  /**
   * The apps' page for choosing a new password: a reset message links to it with the token in
   * the fragment (`#token=…`). Unset: the message gives the token as a code to enter.
   */
  PASSWORD_RESET_URL: z.string().url().optional(),
  /** FCM HTTP v1: the project and its service account JSON; unset: no mobile push. */
  FCM_BASE_URL: z.string().url().default("https://fcm.googleapis.com"),
  FCM_PROJECT_ID: z.string().optional(),
  FCM_SERVICE_ACCOUNT_JSON: z.string().optional(),
  /** SMS through a Twilio-shaped Messages API; unset: no SMS. */
  SMS_BASE_URL: z.string().url().default("https://api.twilio.com"),
  SMS_ACCOUNT_SID: z.string().optional(),
  SMS_AUTH_TOKEN: z.string().optional(),
  SMS_FROM: z.string().optional(),
  /** WatchMe keep-alive interval. */
  HEARTBEAT_MS: env.positiveInt(15_000),
  /** How often WatchMe streams check the store while the bus is down. */
  WATCH_POLL_MS: env.positiveInt(1_000),
  /** How often they check it while the bus is up (a publish another instance dropped). */
  WATCH_CHECK_MS: env.positiveInt(10_000),
};

export type UserConfig = z.infer<z.ZodObject<typeof userConfigShape>>;
