import type { TokenVerifier } from "@parley/kit/auth";
import type { Registry } from "@parley/kit/metrics";
import type { FastifyPluginAsync } from "fastify";
import type { JSONWebKeySet } from "jose";
import type { AccessLog } from "./access-log";
import type { EdgeConfig } from "./config";
import type { Catalogue } from "./http/catalogue";
import type { RateStore } from "./http/rate-counter";
import authentication from "./plugins/app/authentication";
import errors from "./plugins/app/errors";
import observability from "./plugins/app/observability";
import upstreamsPlugin from "./plugins/app/upstreams";
import cors from "./plugins/external/cors";
import securityHeaders from "./plugins/external/helmet";
import rateLimit from "./plugins/external/rate-limit";
import swagger from "./plugins/external/swagger";
import websocket from "./plugins/external/websocket";
import consoleRoutes from "./routes/console";
import opsRoutes from "./routes/ops";
import rpcRoutes from "./routes/rpc";
import webhookRoutes from "./routes/webhooks";
import websocketRoutes from "./routes/websocket";
import type { Upstreams } from "./upstreams";
import type { SocketHub } from "./ws/socket";

export interface AppOptions {
  config: EdgeConfig;
  catalogue: Catalogue;
  upstreams: Upstreams;
  verifier: TokenVerifier;
  /** The edge's own service token (webhooks). */
  credentials: () => Promise<string>;
  jwks: () => Promise<JSONWebKeySet>;
  metrics: Registry;
  accessLog: AccessLog;
  rateStore: RateStore;
  hub: SocketHub;
  /** The API documents, generated once from the descriptors. */
  documents: { openapi: Record<string, unknown>; asyncapi: Record<string, unknown> };
}

/**
 * The edge as a Fastify app of plugins, in the order fastify/demo loads them: external
 * plugins (security headers, CORS, rate limits, the docs, WebSocket), then the app's own
 * (the error envelope, authentication, upstream clients, metrics and access log), then the
 * routes (one per annotated RPC, the webhook, the WebSocket, the console, operations).
 */
const app: FastifyPluginAsync<AppOptions> = async (fastify, options) => {
  const { config } = options;

  await fastify.register(securityHeaders);
  await fastify.register(cors, { origins: config.CORS_ORIGINS });
  await fastify.register(rateLimit, { perMinute: config.RATE_LIMIT_PER_MINUTE, store: options.rateStore });
  await fastify.register(swagger, { document: options.documents.openapi });
  await fastify.register(websocket, { maxPayload: config.WS_MAX_FRAME_BYTES });

  await fastify.register(errors);
  await fastify.register(authentication, { verifier: options.verifier });
  await fastify.register(upstreamsPlugin, { upstreams: options.upstreams });
  await fastify.register(observability, { metrics: options.metrics, accessLog: options.accessLog });

  await fastify.register(rpcRoutes, {
    catalogue: options.catalogue,
    deadlineMs: config.UPSTREAM_DEADLINE_MS,
    rates: { perMinute: config.RATE_LIMIT_PER_MINUTE, routes: config.RATE_LIMIT_ROUTES },
  });
  await fastify.register(webhookRoutes, {
    catalogue: options.catalogue,
    secret: config.WEBHOOK_SECRET,
    toleranceSeconds: config.WEBHOOK_TOLERANCE_SECONDS,
    deadlineMs: config.UPSTREAM_DEADLINE_MS,
    credentials: options.credentials,
    rates: { perMinute: config.RATE_LIMIT_PER_MINUTE, routes: config.RATE_LIMIT_ROUTES },
  });
  await fastify.register(websocketRoutes, { hub: options.hub });
  await fastify.register(consoleRoutes, {
    dir: config.CONSOLE_DIR,
    demoAccounts: config.CONSOLE_DEMO_ACCOUNTS,
    developmentCheckout: config.CONSOLE_DEVELOPMENT_CHECKOUT,
    webhookSecret: config.WEBHOOK_SECRET,
    production: config.NODE_ENV === "production",
  });
  await fastify.register(opsRoutes, {
    metrics: options.metrics,
    jwks: options.jwks,
    openapi: JSON.stringify(options.documents.openapi),
    asyncapi: JSON.stringify(options.documents.asyncapi),
  });
};

export default app;
