import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, serveMetrics } from "@parley/kit/metrics";
import { authConfigShape } from "./config";
import { startAuth } from "./server";

const config = loadConfig(authConfigShape);
const log = createLogger({ service: "auth", level: config.LOG_LEVEL });
const metrics = createMetrics("auth");

const { server } = await startAuth(config, log, { metrics });
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
}, log);
