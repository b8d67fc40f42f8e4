import { identityEnv } from "@parley/kit/auth";
import { env, z } from "@parley/kit/config";
import { INT64_MAX } from "./domain/money";
import { ISO_4217 } from "./domain/validation";
import type { ProviderSettings } from "./providers";

const iso4217 = z
  .string()
  .refine((code) => ISO_4217.has(code), "must be an ISO 4217 currency code such as INR");

/** The most one top-up may add by default: ₹1,00,000 in paise. */
export const DEFAULT_MAX_TOP_UP_MINOR = 10_000_000n;
/** The most a wallet may hold by default: ₹10,00,000 in paise. */
export const DEFAULT_MAX_WALLET_BALANCE_MINOR = 100_000_000n;

/** A positive amount in minor units that fits a Postgres bigint. */
const minorUnits = (fallback: bigint) =>
  z.coerce
    .bigint()
    .refine((value) => value > 0n && value <= INT64_MAX, `must be between 1 and ${INT64_MAX}`)
    .default(fallback);

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
  /** The user service: Notify, for the notification outbox relay. */
  USER_ADDRESS: env.address("127.0.0.1:50052"),
  /** The platform's share of every charge, in basis points (2000 = 20 %). */
  COMMISSION_BPS: z.coerce.number().int().min(0).max(10_000).default(2000),
  /** The ISO 4217 currencies this deployment takes, comma-separated. */
  SUPPORTED_CURRENCIES: z
    .string()
    .default("INR")
    .transform((list) => list.split(",").map((code) => code.trim().toUpperCase()))
    .pipe(z.array(iso4217).min(1)),
  /** Currency when a request leaves it empty; one of SUPPORTED_CURRENCIES (checked at start). */
  DEFAULT_CURRENCY: iso4217.default("INR"),
  /** The most one top-up may add, in minor units. */
  MAX_TOP_UP_MINOR: minorUnits(DEFAULT_MAX_TOP_UP_MINOR),
  /** The most a wallet may hold, in minor units; credits beyond it are refused. */
  MAX_WALLET_BALANCE_MINOR: minorUnits(DEFAULT_MAX_WALLET_BALANCE_MINOR),
  /** Provider of top-ups that name none: development (no network), stripe or razorpay (configured below). */
  PAYMENT_PROVIDER: z.string().min(1).default("development"),
  /** Stripe: on when STRIPE_SECRET_KEY is set (with STRIPE_WEBHOOK_SECRET). */
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  STRIPE_API_BASE: z.string().url().default("https://api.stripe.com"),
  /** Seconds a Stripe-Signature timestamp may differ from now. */
  STRIPE_WEBHOOK_TOLERANCE_SECONDS: env.positiveInt(300),
  /** Razorpay: on when RAZORPAY_KEY_ID is set (with RAZORPAY_KEY_SECRET and RAZORPAY_WEBHOOK_SECRET). */
  RAZORPAY_KEY_ID: z.string().min(1).optional(),
  RAZORPAY_KEY_SECRET: z.string().min(1).optional(),
  RAZORPAY_WEBHOOK_SECRET: z.string().min(1).optional(),
  RAZORPAY_API_BASE: z.string().url().default("https://api.razorpay.com"),
  /** Seals payout account details (AES-256-GCM): 32 bytes, base64. Payout accounts are refused without it. */
  PAYOUT_ENCRYPTION_KEY: z
    .string()
    .refine((key) => Buffer.from(key, "base64").length === 32, "must be 32 bytes, base64-encoded")
    .optional(),
  /** `production`: no development payout rail (payouts need RazorpayX, else PAYOUTS_NOT_CONFIGURED). */
  NODE_ENV: z.string().optional(),
  /** RazorpayX payouts: on when RAZORPAYX_KEY_ID is set; the development rail (pays at once) otherwise, outside production. */
  RAZORPAYX_KEY_ID: z.string().min(1).optional(),
  RAZORPAYX_KEY_SECRET: z.string().min(1).optional(),
  RAZORPAYX_WEBHOOK_SECRET: z.string().min(1).optional(),
  RAZORPAYX_ACCOUNT_NUMBER: z.string().min(1).optional(),
  RAZORPAYX_API_BASE: z.string().url().default("https://api.razorpay.com"),
  /** Tax withheld on each payout (TDS), in basis points. */
  TDS_BPS: z.coerce.number().int().min(0).max(9_999).default(0),
  /** The smallest withdrawal, in minor units (₹100). */
  MIN_PAYOUT_MINOR: minorUnits(10_000n),
  /** The automatic payout: earnings at least this much are paid out once a week (0: off). */
  AUTO_PAYOUT_THRESHOLD_MINOR: z.coerce.bigint().min(0n).default(100_000n),
  /** How often the automatic payout looks for experts due (each is paid once per ISO week). */
  AUTO_PAYOUT_CHECK_INTERVAL_MS: env.positiveInt(3_600_000),
  /** A payment still pending (a payout processing) this long is read back from its provider (reconciliation). */
  RECONCILE_AFTER_MS: env.positiveInt(15 * 60_000),
  /** How often reconciliation runs, and how long a payment it could not settle waits for its next check. */
  RECONCILE_INTERVAL_MS: env.positiveInt(60_000),
  /** Payments claimed per reconciliation round. */
  RECONCILE_BATCH: env.positiveInt(200),
  /** A payment its provider still has unpaid this long expires. */
  PAYMENT_EXPIRY_MS: env.positiveInt(24 * 3_600_000),
  /** How often open holds past their expiry are marked expired (available never waits for it). */
  HOLD_SWEEP_INTERVAL_MS: env.positiveInt(30_000),
};

export type BillingConfig = z.infer<z.ZodObject<typeof billingConfigShape>>;

/** The configured providers' settings; a provider half-configured is refused at start, naming what is missing. */
export function providerSettings(config: BillingConfig): ProviderSettings {
  const require = (name: string, value: string | undefined): string => {
    if (!value) throw new Error(`${name} is required when the provider is configured`);
    return value;
  };
  return {
    stripe: config.STRIPE_SECRET_KEY
      ? {
          secretKey: config.STRIPE_SECRET_KEY,
          webhookSecret: require("STRIPE_WEBHOOK_SECRET", config.STRIPE_WEBHOOK_SECRET),
          toleranceSeconds: config.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
          baseUrl: config.STRIPE_API_BASE,
        }
      : undefined,
    razorpayx: config.RAZORPAYX_KEY_ID
      ? {
          keyId: config.RAZORPAYX_KEY_ID,
          keySecret: require("RAZORPAYX_KEY_SECRET", config.RAZORPAYX_KEY_SECRET),
          webhookSecret: require("RAZORPAYX_WEBHOOK_SECRET", config.RAZORPAYX_WEBHOOK_SECRET),
          accountNumber: require("RAZORPAYX_ACCOUNT_NUMBER", config.RAZORPAYX_ACCOUNT_NUMBER),
          baseUrl: config.RAZORPAYX_API_BASE,
        }
      : undefined,
    razorpay: config.RAZORPAY_KEY_ID
      ? {
          keyId: config.RAZORPAY_KEY_ID,
          keySecret: require("RAZORPAY_KEY_SECRET", config.RAZORPAY_KEY_SECRET),
          webhookSecret: require("RAZORPAY_WEBHOOK_SECRET", config.RAZORPAY_WEBHOOK_SECRET),
          baseUrl: config.RAZORPAY_API_BASE,
        }
      : undefined,
    developmentPayouts: config.NODE_ENV !== "production",
  };
}
