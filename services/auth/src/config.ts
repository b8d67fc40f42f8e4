import { identityEnv } from "@parley/kit/auth";
import { env, z } from "@parley/kit/config";
import { passwordHashingConfigShape } from "./domain/passwords";

/**
 * `name:secret,name:secret` → each name's secrets; every secret at least 16 characters. A name
 * listed twice has two secrets, both accepted: a rotation adds the new one, moves the service
 * onto it, then drops the old one, with no moment where the service's secret is refused.
 */
const serviceCredentials = z
  .string()
  .default("")
  .transform((value, ctx) => {
    const credentials = new Map<string, readonly string[]>();
    for (const entry of value
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean)) {
      const separator = entry.indexOf(":");
      const name = entry.slice(0, separator);
      const secret = entry.slice(separator + 1);
      if (separator <= 0 || !/^[a-z][a-z0-9-]*$/.test(name) || secret.length < 16) {
        ctx.addIssue({
          code: "custom",
          message: "must be name:secret pairs, each secret at least 16 characters",
        });
        return z.NEVER;
      }
      credentials.set(name, [...(credentials.get(name) ?? []), secret]);
    }
    return credentials as ReadonlyMap<string, readonly string[]>;
  });

/** Auth's environment; every variable is validated at start. */
export const authConfigShape = {
  GRPC_PORT: env.port(50051),
  METRICS_PORT: env.port(9461),
  DATABASE_URL: env.postgresUrl(),
  DATABASE_POOL_MAX: env.positiveInt(20),
  /** Attempt counters are shared through Redis when set; in-process (one instance) otherwise. */
  REDIS_URL: env.redisUrl(),
  /** Prefix of auth's Redis keys: deployments (or test runs) sharing one Redis stay apart. */
  REDIS_KEY_PREFIX: z.string().min(1).default("parley:"),
  LOG_LEVEL: env.logLevel(),
  JWT_ISSUER: identityEnv.JWT_ISSUER,
  JWT_AUDIENCE: identityEnv.JWT_AUDIENCE,
  /** Seals signing keys and TOTP secrets at rest and keys the digests of stored tokens. */
  SIGNING_KEY_SECRET: env.secret(32),
  /**
   * Secrets SIGNING_KEY_SECRET replaced, comma-separated: what they sealed still opens (and is
   * resealed under the current one), what they digested still matches.
   */
  SIGNING_KEY_SECRET_PREVIOUS: env.secretList(32),
  PAGE_TOKEN_SECRET: env.pageTokenSecret(),
  /** Service identities: `user:<secret>,billing:<secret>,session:<secret>,edge:<secret>`. */
  SERVICE_CREDENTIALS: serviceCredentials,
  USER_ADDRESS: env.address("127.0.0.1:50052"),
  /** The session service: a suspended person's sessions are ended there. */
  SESSION_ADDRESS: env.address("127.0.0.1:50053"),
  /** Billing: the back office freezes wallets there. */
  BILLING_ADDRESS: env.address("127.0.0.1:50054"),
  /** Creates (or keeps) this admin account at start, for a new installation. */
  BOOTSTRAP_ADMIN_EMAIL: z.string().optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(900).default(900),
  SESSION_IDLE_DAYS: env.positiveInt(30),
  SESSION_ABSOLUTE_DAYS: env.positiveInt(90),
  /**
   * A new signing key is published this long before it signs: at least a minute, the time
   * for every auth instance to reload its keys (30 s) and for every verifier's refetch
   * cooldown (30 s) to pass.
   */
  KEY_ACTIVATION_DELAY_SECONDS: z.coerce.number().int().min(60, "must be at least 60").default(120),
  KEY_ROTATION_DAYS: env.positiveInt(30),
  /** Failed logins per account in the attempt window before it locks. */
  LOGIN_ATTEMPT_LIMIT: env.positiveInt(5),
  LOGIN_IP_ATTEMPT_LIMIT: env.positiveInt(100),
  ATTEMPT_WINDOW_SECONDS: env.positiveInt(900),
  /**
   * Addresses or CIDR ranges of the peers allowed to state the end client's IP in
   * `x-client-ip` (the edge), comma-separated. Anyone else is counted under its own address.
   */
  CLIENT_IP_TRUSTED_PEERS: env.networkList("127.0.0.0/8,::1/128"),
  OUTBOX_INTERVAL_MS: env.positiveInt(1_000),
  /** Argon2 computations at once (every core but one) and waiting (32 per slot): passwords.ts. */
  ...passwordHashingConfigShape,
};

export type AuthConfig = z.infer<z.ZodObject<typeof authConfigShape>>;
