import { identityEnv } from "@parley/kit/auth";
import { env, parseNetworkList, z } from "@parley/kit/config";

/** The edge's environment; every variable is validated at start. */
export const edgeConfigShape = {
  HTTP_PORT: env.port(8080),
  HTTP_HOST: z.string().min(1).default("0.0.0.0"),
  LOG_LEVEL: env.logLevel(),
  ...identityEnv,
  AUTH_ADDRESS: env.address("127.0.0.1:50051"),
  USER_ADDRESS: env.address("127.0.0.1:50052"),
  SESSION_ADDRESS: env.address("127.0.0.1:50053"),
  BILLING_ADDRESS: env.address("127.0.0.1:50054"),
  /** Rate-limit counters are shared through Redis when set; per instance otherwise. */
  REDIS_URL: env.redisUrl(),
  /** Prefix of the edge's Redis keys: deployments (or test runs) sharing one Redis stay apart. */
  REDIS_KEY_PREFIX: z.string().min(1).default("parley:"),
  /** Browser origins allowed by CORS, comma-separated (none when empty). */
  CORS_ORIGINS: env.list(),
  /** Shared secret of the payment provider's webhook signatures; the webhook route is off without it. */
  WEBHOOK_SECRET: env.secret(16).optional(),
  WEBHOOK_TOLERANCE_SECONDS: env.positiveInt(300),
  /** Requests per minute on each route per signed-in person, or per IP for anyone else. */
  RATE_LIMIT_PER_MINUTE: env.positiveInt(600),
  /**
   * Routes with limits of their own, per minute: `POST /v1/auth/login=60, GET /v1/experts=1200`
   * (the verb and the annotated template).
   */
  RATE_LIMIT_ROUTES: z
    .string()
    .default("")
    .transform((value, ctx): Record<string, number> => {
      const limits: Record<string, number> = {};
      for (const entry of value
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean)) {
        const match = /^(GET|POST|PUT|PATCH|DELETE) (\/\S+)=(\d+)$/.exec(entry);
        if (!match || Number(match[3]) < 1) {
          ctx.addIssue({ code: "custom", message: `"${entry}" is not "<VERB> <template>=<per minute>"` });
          return z.NEVER;
        }
        limits[`${match[1]} ${match[2]}`] = Number(match[3]);
      }
      return limits;
    }),
  /** How often rate-limit counts are shared through Redis (no Redis round trip per request). */
  RATE_LIMIT_SYNC_MS: env.positiveInt(250),
  BODY_LIMIT_BYTES: env.positiveInt(1024 * 1024),
  UPSTREAM_DEADLINE_MS: env.positiveInt(10_000),
  WS_MAX_FRAME_BYTES: env.positiveInt(64 * 1024),
  WS_FRAMES_PER_SECOND: env.positiveInt(20),
  /** A WebSocket client that lets this much unsent data pile up is closed (slow consumer). */
  WS_MAX_BUFFERED_BYTES: env.positiveInt(1024 * 1024),
  /** Open WebSocket connections one person may hold on one edge instance; the next closes with 4029. */
  WS_MAX_CONNECTIONS_PER_PERSON: env.positiveInt(5),
  /** Stored events each watched session's shared feed keeps, for sockets joining a little behind. */
  WS_FEED_MEMORY_EVENTS: env.positiveInt(256),
  /** WebSocket connections not yet authenticated one address may hold on one edge instance. */
  WS_MAX_UNAUTHENTICATED_PER_IP: env.positiveInt(20),
  /** The web console's build folder; packages/console/dist beside the sources or the bundle when empty. */
  CONSOLE_DIR: z.string().min(1).optional(),
  /**
   * Demo accounts the console offers as one-click sign-ins: a JSON array of
   * `{"name","email","password","role"}` (`pnpm start` passes the ones it seeds). None when empty.
   */
  CONSOLE_DEMO_ACCOUNTS: z
    .string()
    .optional()
    .refine(
      (value) => {
        if (!value) return true;
        try {
          const parsed: unknown = JSON.parse(value);
          return Array.isArray(parsed);
        } catch {
          return false;
        }
      },
      { message: "must be a JSON array of accounts" },
    ),
  /** `production` turns the console's demo accounts and development checkout off, whatever else says. */
  NODE_ENV: z.string().optional(),
  /**
   * Development only: the console's top-ups are paid by the edge standing in for the development
   * payment provider (it signs the provider's webhook with WEBHOOK_SECRET). Never in production.
   */
  CONSOLE_DEVELOPMENT_CHECKOUT: z
    .enum(["true", "false", "1", "0", ""])
    .default("false")
    .transform((value) => value === "true" || value === "1"),
  /**
   * Behind load balancers: which X-Forwarded-For hops to believe, as a hop count ("1": the
   * one in front of us) or their addresses / CIDR ranges. Never "every hop": the leftmost
   * entry is whatever the client wrote, and per-IP limits would count what it chose.
   */
  TRUST_PROXY: z
    .string()
    .default("")
    .transform((value, ctx): number | string | false => {
      const text = value.trim();
      if (text === "" || text === "false" || text === "0") return false;
      if (/^\d+$/.test(text)) return Number(text);
      try {
        parseNetworkList(text);
        return text;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be a hop count or addresses / CIDR ranges" });
        return z.NEVER;
      }
    }),
};

export type EdgeConfig = z.infer<z.ZodObject<typeof edgeConfigShape>>;
