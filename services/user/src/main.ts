import type { TokenVerifierOptions } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics, serveMetrics } from "@parley/kit/metrics";
import { userConfigShape } from "./config";
import { startUser } from "./server";

const config = loadConfig(userConfigShape);
const log = createLogger({ service: "user", level: config.LOG_LEVEL });
const metrics = createMetrics("user");

const fetchJwks = async (): ReturnType<TokenVerifierOptions["fetchJwks"]> => {
  if (config.TRUSTED_JWKS)
    return JSON.parse(config.TRUSTED_JWKS) as Awaited<ReturnType<TokenVerifierOptions["fetchJwks"]>>;
  throw new Error("TRUSTED_JWKS is not set and auth's GetJwks is not wired yet");
};

const { server } = await startUser(config, log, fetchJwks, metrics);
const metricsServer = await serveMetrics(metrics.registry, config.METRICS_PORT);
stopOnSignals(async () => {
  await server.shutdown(10_000);
  metricsServer.close();
}, log);
