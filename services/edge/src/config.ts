import { identityEnv } from "@parley/kit/auth";
import { env, parseNetworkList, z } from "@parley/kit/config";

const list = z
  .string()
  .default("")
  .transform((value) =>
    value
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  );

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
  CORS_ORIGINS: list,
  /** Shared secret of the payment provider's webhook signatures; the webhook route is off without it. */
  WEBHOOK_SECRET: env.secret(16).optional(),
  WEBHOOK_TOLERANCE_SECONDS: env.positiveInt(300),
  /** Requests per minute per signed-in principal, or per IP for anonymous callers. */
  RATE_LIMIT_PER_MINUTE: env.positiveInt(600),
  BODY_LIMIT_BYTES: env.positiveInt(1024 * 1024),
  UPSTREAM_DEADLINE_MS: env.positiveInt(10_000),
  WS_MAX_FRAME_BYTES: env.positiveInt(64 * 1024),
  WS_FRAMES_PER_SECOND: env.positiveInt(20),
  /** A WebSocket client that lets this much unsent data pile up is closed (slow consumer). */
  WS_MAX_BUFFERED_BYTES: env.positiveInt(1024 * 1024),
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
