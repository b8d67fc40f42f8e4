import { loadConfig } from "@parley/kit/config";
import { createDatabase } from "@parley/kit/db";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, registerDatabaseGauges, serveMetrics } from "@parley/kit/metrics";
import { startTracing } from "@parley/kit/tracing";
import { authConfigShape } from "./config";
import { AUTH_GAUGES } from "./persistence/gauges";
import { startAuth } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("auth");
const config = loadConfig(authConfigShape);
const log = createLogger({ service: "auth", level: config.LOG_LEVEL });
const metrics = createMetrics("auth");

const { server } = await startAuth(config, log, { metrics });
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
// A connection of its own for the gauges read at each scrape (metering lag, outbox backlog).
const gaugeDatabase = createDatabase(config.DATABASE_URL, { max: 1 });
registerDatabaseGauges(metrics.registry, gaugeDatabase.sql, AUTH_GAUGES);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
  await gaugeDatabase.close();
}, log);
