import { identityEnv } from "@parley/kit/auth";
import { env, type z } from "@parley/kit/config";

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
};

export type UserConfig = z.infer<z.ZodObject<typeof userConfigShape>>;
