import type { RevocationListener, TokenVerifier } from "@parley/kit/auth";
import { createBus } from "@parley/kit/bus";
import { newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import { Gauge, type Registry } from "@parley/kit/metrics";
import { connectRedis } from "@parley/kit/redis";
import Fastify, { LogController } from "fastify";
import type { JSONWebKeySet } from "jose";
import { type AccessLog, accessLogThrough } from "./access-log";
import app from "./app";
import type { EdgeConfig } from "./config";
import { loadCatalogue } from "./http/catalogue";
import { buildOpenApi } from "./http/openapi";
import { createRateCounter } from "./http/rate-counter";
import { createUpstreams } from "./upstreams";
import { buildAsyncApi } from "./ws/asyncapi";
import { createSocketHub } from "./ws/socket";

export interface EdgeIdentity {
  verifier: TokenVerifier;
  /** The edge's own service token, for presence reports and webhooks. */
  credentials: () => Promise<string>;
  /** The public keys that verify access tokens, served at /.well-known/jwks.json. */
  jwks: () => Promise<JSONWebKeySet>;
  /** Calls the listener when a person's credentials or a login session are revoked (their sockets are closed). */
  onRevoked?: (listener: RevocationListener) => () => void;
}

export interface EdgeDeps {
  config: EdgeConfig;
  log: Logger;
  /** Where the access log goes (one line per request); through `log` when absent. */
  accessLog?: AccessLog;
  identity: EdgeIdentity;
  metrics: Registry;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** A hop count trusts that many proxies nearest to us (proxy-addr's hop index). */
const trustedHops = (trust: EdgeConfig["TRUST_PROXY"]) =>
  typeof trust === "number" ? (_address: string, hop: number) => hop < trust : trust;

/**
 * The edge: a Fastify server (src/app.ts) over live upstream channels, with what outlives a
 * request (the route catalogue and documents, the rate counters, the WebSocket hub) built
 * once. The caller listens; `close()` drains WebSockets (1012) first.
 */
export async function buildEdge(deps: EdgeDeps) {
  const { config, log, identity } = deps;
  const catalogue = loadCatalogue();
  const upstreams = createUpstreams({
    auth: config.AUTH_ADDRESS,
    user: config.USER_ADDRESS,
    session: config.SESSION_ADDRESS,
    billing: config.BILLING_ADDRESS,
  });
  const redis = config.REDIS_URL ? connectRedis(config.REDIS_URL, { name: "rate limits", log }) : undefined;
  const rateCounter = createRateCounter({
    redis,
    keyPrefix: `${config.REDIS_KEY_PREFIX}edge:ratelimit:`,
    syncIntervalMs: config.RATE_LIMIT_SYNC_MS,
  });
  // Between edge instances: presence hand-offs (ws/socket.ts). One instance needs none.
  const bus = config.REDIS_URL ? createBus(config.REDIS_URL, { log, registry: deps.metrics }) : undefined;
  const hub = createSocketHub({
    catalogue,
    upstreams,
    verifier: identity.verifier,
    credentials: identity.credentials,
    log,
    deadlineMs: config.UPSTREAM_DEADLINE_MS,
    framesPerSecond: config.WS_FRAMES_PER_SECOND,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    maxConnectionsPerPerson: config.WS_MAX_CONNECTIONS_PER_PERSON,
    maxUnauthenticatedPerIp: config.WS_MAX_UNAUTHENTICATED_PER_IP,
    feedMemoryEvents: config.WS_FEED_MEMORY_EVENTS,
    rates: {
      store: rateCounter.store,
      perMinute: config.RATE_LIMIT_PER_MINUTE,
      routes: config.RATE_LIMIT_ROUTES,
    },
    ...(bus ? { presenceBus: { bus, topic: `${config.REDIS_KEY_PREFIX}edge:presence` } } : {}),
  });
  new Gauge({
    name: "edge_session_feeds",
    help: "Upstream WatchSession streams open: one per watched session, shared by its local sockets",
    registers: [deps.metrics],
    collect() {
      this.set(hub.upstreamStreams());
    },
  });
  new Gauge({
    name: "edge_websocket_connections",
    help: "Open WebSocket connections, by whether they are authenticated",
    labelNames: ["authenticated"],
    registers: [deps.metrics],
    collect() {
      const { open, authenticated } = hub.connections();
      this.set({ authenticated: "true" }, authenticated);
      this.set({ authenticated: "false" }, open - authenticated);
    },
  });

  const fastify = Fastify({
    loggerInstance: log,
    // Requests are logged once, by the access log (plugins/app/observability.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // request.log is the edge's logger itself: no child logger (and its redaction set-up) per
    // request; lines that concern a request carry its id explicitly.
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: trustedHops(config.TRUST_PROXY),
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : newId();
    },
  });
  await fastify.register(app, {
    config,
    catalogue,
    upstreams,
    verifier: identity.verifier,
    credentials: identity.credentials,
    jwks: identity.jwks,
    metrics: deps.metrics,
    accessLog: deps.accessLog ?? accessLogThrough(log),
    rateStore: rateCounter.store,
    hub,
    documents: { openapi: buildOpenApi(catalogue), asyncapi: buildAsyncApi(catalogue) },
  });

  const stopRevocations = identity.onRevoked?.((revoked, reason, revokedAt) =>
    "userId" in revoked
      ? hub.closePerson(revoked.userId, reason, revokedAt)
      : hub.closeLoginSession(revoked.sessionId, reason),
  );
  return {
    app: fastify,
    hub,
    async close() {
      stopRevocations?.();
      await hub.closeAll();
      await fastify.close();
      rateCounter.stop();
      await bus?.close();
      await redis?.quit().catch(() => undefined);
    },
  };
}
