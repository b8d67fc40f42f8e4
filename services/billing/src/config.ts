import { identityEnv } from "@parley/kit/auth";
import { env, z } from "@parley/kit/config";

/** Billing's environment; every variable is validated at start. */
export const billingConfigShape = {
  GRPC_PORT: env.port(50054),
  METRICS_PORT: env.port(9464),
  DATABASE_URL: env.postgresUrl(),
  /** Runs the migrations when set (a role that owns the schema), so DATABASE_URL's role needs only data access. */
  MIGRATION_DATABASE_URL: env.postgresUrl().optional(),
  DATABASE_POOL_MAX: env.positiveInt(20),
  LOG_LEVEL: env.logLevel(),
  PAGE_TOKEN_SECRET: env.pageTokenSecret(),
  ...identityEnv,
  AUTH_ADDRESS: env.address("127.0.0.1:50051"),
  /** The platform's share of every charge, in basis points (2000 = 20 %). */
  COMMISSION_BPS: z.coerce.number().int().min(0).max(10_000).default(2000),
  DEFAULT_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as INR")
    .default("INR"),
  PAYMENT_PROVIDER: z.string().min(1).default("razorpay"),
  /** How often open holds past their expiry are marked expired (available never waits for it). */
  HOLD_SWEEP_INTERVAL_MS: env.positiveInt(30_000),
};

export type BillingConfig = z.infer<z.ZodObject<typeof billingConfigShape>>;
