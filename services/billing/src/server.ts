import path from "node:path";
import type { Authenticator } from "@parley/kit/auth";
import { createDatabase, migrateDatabase, type Sql } from "@parley/kit/db";
import {
  bindService,
  createGrpcServer,
  type GrpcServer,
  type ServiceBinding,
  type StaffActionRecorder,
} from "@parley/kit/grpc";
import type { Logger } from "@parley/kit/log";
import type { ServiceMetrics } from "@parley/kit/metrics";
import { createNotificationRelay, type Notifier } from "@parley/kit/notify";
import { createPaging } from "@parley/kit/paging";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { BillingStaffServiceService } from "@parley/proto/parley/billing/v1/staff";
import {
  type BillingConfig,
  DEFAULT_MAX_TOP_UP_MINOR,
  DEFAULT_MAX_WALLET_BALANCE_MINOR,
  providerSettings,
} from "./config";
import { type Billing, createBilling } from "./domain/billing";
import { BILLING_STAFF_ACTIONS } from "./grpc/audited";
import { billingHandlers } from "./grpc/handlers";
import { billingPermissions } from "./grpc/permissions";
import { billingStaffHandlers, billingStaffPermissions } from "./grpc/staff";
import { NOTIFICATION_OUTBOX } from "./persistence/payments";
import { createLedgerStore, LEDGER_DATABASE_SETTINGS } from "./persistence/store";
import { createPayoutProvider, createProviders, type ProviderSettings } from "./providers";
import { startAutomaticPayouts } from "./workers/automatic-payouts";
import { startHoldSweeper } from "./workers/hold-sweeper";
import { startReconciler } from "./workers/reconciler";

export const BILLING_MIGRATIONS = {
  migrationsFolder: path.resolve(import.meta.dirname, "../drizzle"),
  schema: "billing",
};

export interface BillingServerDeps {
  sql: Sql;
  log: Logger;
  authenticate: Authenticator;
  commissionBps: number;
  defaultCurrency?: string;
  defaultProvider?: string;
  /** SUPPORTED_CURRENCIES (default INR); must include the default currency. */
  supportedCurrencies?: readonly string[];
  /** MAX_TOP_UP_MINOR and MAX_WALLET_BALANCE_MINOR (defaults: the config's). */
  maxTopUp?: bigint;
  maxWalletBalance?: bigint;
  /** Reconciliation: RECONCILE_AFTER_MS and PAYMENT_EXPIRY_MS (defaults 15 min and 24 h). */
  reconcileAfterMs?: number;
  paymentExpiryMs?: number;
  /** PAYOUT_ENCRYPTION_KEY (32 bytes); payout accounts are refused without it. */
  payoutKey?: Buffer;
  /** TDS_BPS and MIN_PAYOUT_MINOR (defaults 0 and 1). */
  tdsBps?: number;
  minPayout?: bigint;
  /** Stripe and Razorpay when configured; the development provider is always there. */
  providers?: ProviderSettings;
  /** PAGE_TOKEN_SECRET; a process-local key when absent (tests). */
  pageTokenSecret?: string;
  now?: () => Date;
  metrics?: ServiceMetrics;
  onShutdown?: Array<() => Promise<void>>;
  readiness?: Array<() => Promise<void>>;
  /** Records a staff money action in auth's audit log (the identity's); unset: not recorded (tests). */
  recordStaffAction?: StaffActionRecorder;
}

/** The billing use cases and their gRPC binding over an existing pool (no server yet). */
export function createBillingService(
  deps: Omit<
    BillingServerDeps,
    "log" | "authenticate" | "metrics" | "onShutdown" | "readiness" | "recordStaffAction"
  >,
): {
  billing: Billing;
  binding: ServiceBinding;
  /** BillingStaffService: wallet freezes for the back office (auth). */
  staff: ServiceBinding;
} {
  const defaultCurrency = deps.defaultCurrency ?? "INR";
  const supportedCurrencies = new Set(deps.supportedCurrencies ?? [defaultCurrency]);
  if (!supportedCurrencies.has(defaultCurrency))
    throw new Error(`DEFAULT_CURRENCY ${defaultCurrency} must be one of SUPPORTED_CURRENCIES`);
  const billing = createBilling({
    store: createLedgerStore(deps.sql, { payoutKey: deps.payoutKey }),
    now: deps.now ?? (() => new Date()),
    commissionBps: BigInt(deps.commissionBps),
    defaultCurrency,
    defaultProvider: deps.defaultProvider ?? "development",
    supportedCurrencies,
    limits: { maxBalance: deps.maxWalletBalance ?? DEFAULT_MAX_WALLET_BALANCE_MINOR },
    maxTopUp: deps.maxTopUp ?? DEFAULT_MAX_TOP_UP_MINOR,
    providers: createProviders(deps.providers ?? {}),
    reconcileAfterMs: deps.reconcileAfterMs,
    paymentExpiryMs: deps.paymentExpiryMs,
    payoutProvider: createPayoutProvider(deps.providers ?? {}),
    tdsBps: BigInt(deps.tdsBps ?? 0),
    minPayout: deps.minPayout,
  });
  const checkoutKeys = new Map(deps.providers?.razorpay ? [["razorpay", deps.providers.razorpay.keyId]] : []);
  return {
    billing,
    binding: bindService(
      BillingServiceService,
      billingHandlers(billing, createPaging(deps.pageTokenSecret), checkoutKeys),
      billingPermissions,
    ),
    staff: bindService(BillingStaffServiceService, billingStaffHandlers(billing), billingStaffPermissions),
  };
}

/** The billing gRPC server over an existing pool, unbound: the caller listens. */
export function buildBillingServer(deps: BillingServerDeps): { server: GrpcServer; billing: Billing } {
  const { billing, binding, staff } = createBillingService(deps);
  const server = createGrpcServer({
    name: "billing",
    log: deps.log,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    services: [binding, staff],
    onShutdown: deps.onShutdown,
    readiness: deps.readiness,
    staffActions: BILLING_STAFF_ACTIONS,
    recordStaffAction: deps.recordStaffAction,
  });
  return { server, billing };
}

/** Everything main.ts does after reading the environment: migrate, pool, server, sweeper. */
export async function startBilling(
  config: BillingConfig,
  log: Logger,
  authenticate: Authenticator,
  metrics?: ServiceMetrics,
  /** The user service's Notify; without it the outbox keeps the notifications (tests). */
  notifier?: Notifier,
  /** Staff money actions into auth's audit log (main.ts: the platform identity's recorder). */
  recordStaffAction?: StaffActionRecorder,
): Promise<{ server: GrpcServer; port: number }> {
  await migrateDatabase(config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL, BILLING_MIGRATIONS);
  const database = createDatabase(config.DATABASE_URL, {
    max: config.DATABASE_POOL_MAX,
    settings: LEDGER_DATABASE_SETTINGS,
  });
  const shutdownHooks: Array<() => Promise<void>> = [];
  const { server, billing } = buildBillingServer({
    sql: database.sql,
    log,
    authenticate,
    commissionBps: config.COMMISSION_BPS,
    defaultCurrency: config.DEFAULT_CURRENCY,
    supportedCurrencies: config.SUPPORTED_CURRENCIES,
    maxTopUp: config.MAX_TOP_UP_MINOR,
    maxWalletBalance: config.MAX_WALLET_BALANCE_MINOR,
    defaultProvider: config.PAYMENT_PROVIDER,
    providers: providerSettings(config),
    reconcileAfterMs: config.RECONCILE_AFTER_MS,
    paymentExpiryMs: config.PAYMENT_EXPIRY_MS,
    payoutKey: config.PAYOUT_ENCRYPTION_KEY ? Buffer.from(config.PAYOUT_ENCRYPTION_KEY, "base64") : undefined,
    tdsBps: config.TDS_BPS,
    minPayout: config.MIN_PAYOUT_MINOR,
    pageTokenSecret: config.PAGE_TOKEN_SECRET,
    metrics,
    onShutdown: shutdownHooks,
    readiness: [() => database.ping()],
    recordStaffAction,
  });
  const relay =
    notifier && createNotificationRelay({ sql: database.sql, table: NOTIFICATION_OUTBOX, notifier, log });
  shutdownHooks.push(
    startHoldSweeper(billing, config.HOLD_SWEEP_INTERVAL_MS, log),
    startReconciler(
      billing,
      { intervalMs: config.RECONCILE_INTERVAL_MS, batch: config.RECONCILE_BATCH, parallel: 8 },
      log,
    ),
    async () => relay?.stop(),
    startAutomaticPayouts(
      billing,
      {
        intervalMs: config.AUTO_PAYOUT_CHECK_INTERVAL_MS,
        threshold: config.AUTO_PAYOUT_THRESHOLD_MINOR,
        currencies: config.SUPPORTED_CURRENCIES,
      },
      log,
    ),
    database.close,
  );
  await relay?.start();
  const port = await server.listen(`0.0.0.0:${config.GRPC_PORT}`);
  return { server, port };
}
