import { createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, serveMetrics } from "@parley/kit/metrics";
import { billingPort, createBillingClient } from "./clients/billing";
import { createUserClient, expertDirectory } from "./clients/user";
import { sessionConfigShape } from "./config";
import { startSession } from "./server";

const config = loadConfig(sessionConfigShape);
const log = createLogger({ service: "session", level: config.LOG_LEVEL });
const metrics = createMetrics("session");

// auth's contract is not in the repo yet: keys come from TRUSTED_JWKS, and session's own
// token from SERVICE_ACCESS_TOKEN until the kit identity gets auth's directory.
const identity = createPlatformIdentity(config);
const credentials = config.SERVICE_ACCESS_TOKEN
  ? async () => config.SERVICE_ACCESS_TOKEN as string
  : identity.credentials;

const billingClient = createBillingClient(config.BILLING_ADDRESS, credentials);
const userClient = createUserClient(config.USER_ADDRESS, credentials);
const { server } = await startSession(config, log, {
  authenticate: identity.authenticate,
  billing: billingPort(billingClient),
  experts: expertDirectory(userClient),
  metrics,
  onShutdown: [
    async () => {
      billingClient.close();
      userClient.close();
    },
  ],
});
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
}, log);
