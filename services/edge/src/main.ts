import { connectAuthDirectory, createPlatformIdentity } from "@parley/kit/auth";
import { loadConfig } from "@parley/kit/config";
import { stopOnSignals } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createMetrics } from "@parley/kit/metrics";
import { startTracing } from "@parley/kit/tracing";
import type { JSONWebKeySet } from "jose";
import pino from "pino";
import { edgeConfigShape } from "./config";
import { buildEdge } from "./server";

// First: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise).
await startTracing("edge");
const config = loadConfig(edgeConfigShape);
const log = createLogger({ service: "edge", level: config.LOG_LEVEL });
// One line per request, built only from fields that hold no secrets (method, route template,
// status, duration, request id): written in 4 KiB batches without redaction, and flushed every
// 200 ms so a quiet edge's lines do not wait for a batch to fill.
const accessLog = createLogger({
  service: "edge",
  level: config.LOG_LEVEL,
  redact: false,
  destination: pino.destination({ sync: false, minLength: 4096 }),
});
setInterval(() => accessLog.flush(), 200).unref();
const metrics = createMetrics("edge");

const directory = connectAuthDirectory(config.AUTH_ADDRESS);
const identity = createPlatformIdentity({ ...config, directory });
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
