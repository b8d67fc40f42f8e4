import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { createDatabase } from "@parley/kit/db";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, registerDatabaseGauges, serveMetrics } from "@parley/kit/metrics";
import { userNotifier } from "@parley/kit/notify";
import { startTracing } from "@parley/kit/tracing";
import { backOffice, createBackOfficeClient } from "./clients/auth";
import { billingPort, createBillingClient } from "./clients/billing";
import { createUserClient, createUserSafetyClient, expertDirectory, safetyMirror } from "./clients/user";
import { sessionConfigShape } from "./config";
import { SESSION_GAUGES } from "./persistence/gauges";
import { startSession } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("session");
const config = loadConfig(sessionConfigShape);
const log = createLogger({ service: "session", level: config.LOG_LEVEL });
const metrics = createMetrics("session");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory, log });
const { credentials } = identity;

const billingClient = createBillingClient(config.BILLING_ADDRESS, credentials);
const userClient = createUserClient(config.USER_ADDRESS, credentials);
const userSafetyClient = createUserSafetyClient(config.USER_ADDRESS, credentials);
const backOfficeClient = createBackOfficeClient(config.AUTH_ADDRESS);
const { server } = await startSession(config, log, {
  authenticate: identity.authenticate,
  billing: billingPort(billingClient),
  experts: expertDirectory(userClient),
  notifier: userNotifier(userClient),
  mirror: safetyMirror(userSafetyClient),
  backOffice: backOffice(backOfficeClient),
  // Staff actions (sessions ended, reports and disputes resolved, reviews hidden) into auth's
  // audit log; with TRUSTED_JWKS there is no recorder and the server's log says so.
  recordStaffAction: identity.recordStaffAction,
  metrics,
  onShutdown: [
    async () => {
      billingClient.close();
      userClient.close();
      userSafetyClient.close();
      backOfficeClient.close();
      directory.close();
    },
  ],
});
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
// A connection of its own for the gauges read at each scrape (metering lag, outbox backlog).
const gaugeDatabase = createDatabase(config.DATABASE_URL, { max: 1 });
registerDatabaseGauges(metrics.registry, gaugeDatabase.sql, SESSION_GAUGES);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
  await gaugeDatabase.close();
}, log);
