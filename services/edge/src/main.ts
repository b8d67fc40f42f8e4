import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics } from "@parley/kit/metrics";
import { startTracing } from "@parley/kit/tracing";
import type { JSONWebKeySet } from "jose";
import { createAccessLog } from "./access-log";
import { edgeConfigShape } from "./config";
import { buildEdge } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("edge");
const config = loadConfig(edgeConfigShape);
const log = createLogger({ service: "edge", level: config.LOG_LEVEL });
// One line per request (method, route template, status, duration, request id), in batches.
const accessLog = createAccessLog({ service: "edge", level: config.LOG_LEVEL });
const metrics = createMetrics("edge");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory, log });
const trusted = config.TRUSTED_JWKS ? (JSON.parse(config.TRUSTED_JWKS) as JSONWebKeySet) : undefined;

const edge = await buildEdge({
  config,
  log,
  accessLog,
  metrics: metrics.registry,
  identity: {
    verifier: identity.verifier,
    credentials: identity.credentials,
    jwks: async () => trusted ?? directory.getJwks(),
    onRevoked: (listener) => identity.revocations.onRevoked(listener),
  },
});
await edge.app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
const address = edge.app.server.address();
log.info(
  { port: typeof address === "object" && address ? address.port : config.HTTP_PORT },
  "edge listening",
);
stopOnSignals(async () => {
  await edge.close();
  identity.stop();
  directory.close();
  accessLog.flush();
}, log);
