import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, serveMetrics } from "@parley/kit/metrics";
import { userNotifier } from "./clients/user";
import { billingConfigShape } from "./config";
import { startBilling } from "./server";

const config = loadConfig(billingConfigShape);
const log = createLogger({ service: "billing", level: config.LOG_LEVEL });
const metrics = createMetrics("billing");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory });

const notifier = userNotifier(config.USER_ADDRESS, identity.credentials);
const { server } = await startBilling(config, log, identity.authenticate, metrics, notifier);
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
  notifier.close();
  directory.close();
}, log);
