import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, serveMetrics } from "@parley/kit/metrics";
import { startTracing } from "@parley/kit/tracing";
import { userConfigShape } from "./config";
import { startUser } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("user");
const config = loadConfig(userConfigShape);
const log = createLogger({ service: "user", level: config.LOG_LEVEL });
const metrics = createMetrics("user");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory, log });

// Staff changes to people's profiles go to auth's audit log; with TRUSTED_JWKS there is no
// recorder and the server's log says so.
const { server } = await startUser(config, log, identity.authenticate, metrics, identity.recordStaffAction);
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
  directory.close();
}, log);
