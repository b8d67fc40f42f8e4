import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { createDatabase } from "@parley/kit/db";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, registerDatabaseGauges, serveMetrics } from "@parley/kit/metrics";
import { startTracing } from "@parley/kit/tracing";
import { userNotifier } from "./clients/user";
import { billingConfigShape } from "./config";
import { BILLING_GAUGES } from "./persistence/gauges";
import { startBilling } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("billing");
const config = loadConfig(billingConfigShape);
const log = createLogger({ service: "billing", level: config.LOG_LEVEL });
const metrics = createMetrics("billing");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory, log });

const notifier = userNotifier(config.USER_ADDRESS, identity.credentials);
// Staff money actions go to auth's audit log (an action auth cannot record is refused with
// AUDIT_UNAVAILABLE). With TRUSTED_JWKS (tests and offline tools, no auth to ask) the identity
// has no recorder: they are not recorded, and the server's log says so at start.
const { server } = await startBilling(
  config,
  log,
  identity.authenticate,
  metrics,
  notifier,
  identity.recordStaffAction,
);
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
// A connection of its own for the gauges read at each scrape (metering lag, outbox backlog).
const gaugeDatabase = createDatabase(config.DATABASE_URL, { max: 1 });
registerDatabaseGauges(metrics.registry, gaugeDatabase.sql, BILLING_GAUGES);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
  await gaugeDatabase.close();
  notifier.close();
  directory.close();
}, log);
