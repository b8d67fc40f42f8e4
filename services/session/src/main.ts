import type { TokenVerifierOptions } from "@parley/kit/auth";
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

type Jwks = Awaited<ReturnType<TokenVerifierOptions["fetchJwks"]>>;
const fetchJwks = async (): Promise<Jwks> => {
  if (config.TRUSTED_JWKS) return JSON.parse(config.TRUSTED_JWKS) as Jwks;
  throw new Error("TRUSTED_JWKS is not set and auth's GetJwks is not wired yet");
};

// Session's own identity towards billing and user. Until auth's IssueServiceToken is in the
// contract, a pre-issued service token (SERVICE_ACCESS_TOKEN) is the only source.
const credentials = async (): Promise<string> => {
  if (config.SERVICE_ACCESS_TOKEN) return config.SERVICE_ACCESS_TOKEN;
  throw new Error("SERVICE_ACCESS_TOKEN is not set and auth's IssueServiceToken is not wired yet");
};

const billingClient = createBillingClient(config.BILLING_ADDRESS, credentials);
const userClient = createUserClient(config.USER_ADDRESS, credentials);
const { server } = await startSession(config, log, {
  fetchJwks,
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
