import type { JsonValue } from "@bufbuild/protobuf";
import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import type { Principal, TokenVerifier } from "@parley/kit/auth";
import { invalidArgument, isAppError, resourceExhausted, unauthenticated } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import { Histogram, type Registry } from "@parley/kit/metrics";
import { connectRedis } from "@parley/kit/redis";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import type { JSONWebKeySet } from "jose";
import type { EdgeConfig } from "./config";
import { loadCatalogue } from "./http/catalogue";
import { type HttpError, toHttpError } from "./http/errors";
import { buildOpenApi } from "./http/openapi";
import { decodeResponse, encodeJson, encodeRequest } from "./http/transcode";
import { upstreamMetadata } from "./metadata";
import { createUpstreams, type UpstreamName } from "./upstreams";
import { confirmPaymentRequest, SIGNATURE_HEADER, verifySignature } from "./webhooks/payments";
import { createSocketHandler } from "./ws/socket";

export interface EdgeIdentity {
  verifier: TokenVerifier;
  /** The edge's own service token, for presence reports and webhooks. */
  credentials: () => Promise<string>;
  /** The public keys that verify access tokens, served at /.well-known/jwks.json. */
  jwks: () => Promise<JSONWebKeySet>;
}

export interface EdgeDeps {
  config: EdgeConfig;
  log: Logger;
  identity: EdgeIdentity;
  metrics: Registry;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
    bearerToken?: string;
    apiKey?: string;
  }
}

/** A hop count trusts that many proxies nearest to us (proxy-addr's hop index). */
const trustedHops = (trust: EdgeConfig["TRUST_PROXY"]) =>
  typeof trust === "number" ? (_address: string, hop: number) => hop < trust : trust;

/** The edge as a Fastify app over live upstream channels; the caller listens. */
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
  const httpDuration = new Histogram({
    name: "http_server_request_duration_seconds",
    help: "HTTP requests by route and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [deps.metrics],
  });

  const app = Fastify({
    loggerInstance: log,
    disableRequestLogging: true,
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: trustedHops(config.TRUST_PROXY),
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : newId();
    },
  });
  app.decorateRequest("principal", null as never);

  const sendError = (reply: FastifyReply, error: HttpError) => {
    if (error.retryAfterSeconds) reply.header("retry-after", String(error.retryAfterSeconds));
    return reply.code(error.statusCode).send(error.body);
  };
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const statusCode = error.statusCode;
    if (!isAppError(error) && statusCode && statusCode < 500) {
      const reason =
        statusCode === 413
          ? "BODY_TOO_LARGE"
          : statusCode === 415
            ? "UNSUPPORTED_MEDIA_TYPE"
            : "INVALID_BODY";
      return reply.code(statusCode).send({
        error: {
          code: statusCode,
          status: statusCode === 429 ? "RESOURCE_EXHAUSTED" : "INVALID_ARGUMENT",
          reason,
          message: error.message,
          details: {},
          request_id: request.id,
        },
      });
    }
    const mapped = toHttpError(error, request.id);
    if (mapped.statusCode >= 500) request.log.error({ err: error, requestId: request.id }, "request failed");
    return sendError(reply, mapped);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: 404,
        status: "NOT_FOUND",
        reason: "ROUTE_NOT_FOUND",
        message: `no route for ${request.method} ${request.url.split("?")[0]}`,
        details: {},
        request_id: request.id,
      },
    }),
  );

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    request.principal = { kind: "anonymous" };
    const authorization = request.headers.authorization;
    if (authorization) {
      const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(authorization);
      if (!match) throw unauthenticated("TOKEN_INVALID", "authorization must be 'Bearer <token>'");
      request.principal = await identity.verifier.verify(match[1]!);
      request.bearerToken = match[1];
    } else if (typeof request.headers["x-api-key"] === "string") {
      request.apiKey = request.headers["x-api-key"];
    }
  });
  app.addHook("onResponse", async (request, reply) => {
    httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? "unmatched",
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(helmet, {
    // The docs page needs its own inline bootstrap script; everything else is JSON.
    contentSecurityPolicy: {
      directives: { "script-src": ["'self'", "'unsafe-inline'"], "img-src": ["'self'", "data:"] },
    },
  });
  await app.register(cors, {
    origin: config.CORS_ORIGINS.length > 0 ? config.CORS_ORIGINS : false,
    credentials: true,
  });
  await app.register(rateLimit, {
    max: config.RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    ...(redis ? { redis, nameSpace: `${config.REDIS_KEY_PREFIX}edge:ratelimit:` } : {}),
    // A verified person has their own allowance; anyone else (partner keys included, which
    // only auth can verify, so an invented key must not buy a fresh bucket) is counted per IP.
    keyGenerator: (request) =>
      request.principal?.kind === "user" ? `user:${request.principal.userId}` : `ip:${request.ip}`,
    // Redis unreachable: serve without limits rather than fail every request.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      Object.assign(
        resourceExhausted("RATE_LIMITED", `rate limit of ${context.max} requests per minute exceeded`, {
          retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)),
        }),
        { statusCode: 429 },
      ),
  });
  await app.register(websocket, { options: { maxPayload: config.WS_MAX_FRAME_BYTES } });

  const openapi = buildOpenApi(catalogue);
  await app.register(swagger, { mode: "static", specification: { document: openapi as never } });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  app.get("/healthz", { config: { rateLimit: false } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { rateLimit: false } }, async (_request, reply) => {
    const upstream = await upstreams.ready();
    const ready = Object.values(upstream).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", upstream });
  });
  app.get("/metrics", { config: { rateLimit: false } }, async (_request, reply) =>
    reply.type(deps.metrics.contentType).send(await deps.metrics.metrics()),
  );
  app.get("/.well-known/jwks.json", async (_request, reply) =>
    reply.header("cache-control", "public, max-age=300").send(await identity.jwks()),
  );
  app.get("/openapi.json", async () => openapi);

  const sockets = createSocketHandler({
    registry: catalogue.registry,
    upstreams,
    verifier: identity.verifier,
    credentials: identity.credentials,
    log,
    deadlineMs: config.UPSTREAM_DEADLINE_MS,
    framesPerSecond: config.WS_FRAMES_PER_SECOND,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
  });
  app.get("/v1/ws", { websocket: true }, (socket, request) =>
    sockets.handle(socket, { ip: request.ip, userAgent: request.headers["user-agent"] }),
  );

  const callUpstream = async (
    request: FastifyRequest,
    upstream: UpstreamName,
    grpcPath: string,
    bytes: Buffer,
    bearerToken?: string,
  ) =>
    upstreams.unary(
      upstream,
      grpcPath,
      bytes,
      upstreamMetadata({
        requestId: request.id,
        bearerToken: bearerToken ?? request.bearerToken,
        apiKey: bearerToken ? undefined : request.apiKey,
        clientIp: request.ip,
        userAgent: request.headers["user-agent"],
      }),
      config.UPSTREAM_DEADLINE_MS,
    );

  if (config.WEBHOOK_SECRET) {
    const secret = config.WEBHOOK_SECRET;
    const confirm = catalogue.registry
      .getService("parley.billing.v1.BillingService")!
      .methods.find((m) => m.name === "ConfirmPayment")!;
    await app.register((scope, _options, done) => {
      // The signature covers the exact bytes sent, so this route keeps the raw body.
      scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, parsed) =>
        parsed(null, body),
      );
      scope.post<{ Params: { provider: string } }>(
        "/v1/webhooks/payments/:provider",
        async (request, reply) => {
          const raw = request.body as Buffer;
          verifySignature(
            secret,
            request.headers[SIGNATURE_HEADER] as string | undefined,
            raw,
            config.WEBHOOK_TOLERANCE_SECONDS,
          );
          let event: unknown;
          try {
            event = JSON.parse(raw.toString("utf8"));
          } catch {
            throw invalidArgument("INVALID_BODY", "the body is not JSON");
          }
          const json = confirmPaymentRequest(request.params.provider, event) as JsonValue;
          const bytes = encodeJson(confirm.input, json, catalogue.registry);
          const response = await callUpstream(
            request,
            "billing",
            "/parley.billing.v1.BillingService/ConfirmPayment",
            bytes,
            await identity.credentials(),
          );
          return reply.send(decodeResponse(confirm.output, response, catalogue.registry));
        },
      );
      done();
    });
  }

  app.all("/v1/*", async (request, reply) => {
    const path = request.url.split("?")[0]!;
    const found = catalogue.match(request.method, path);
    if (!found) return reply.callNotFound();
    const { route, params } = found;
    const bytes = encodeRequest(
      route,
      { params, query: request.query as Record<string, string>, body: request.body },
      catalogue.registry,
    );
    const response = await callUpstream(request, route.upstream, route.grpcPath, bytes);
    return reply.send(decodeResponse(route.method.output, response, catalogue.registry));
  });

  return {
    app,
    async close() {
      await sockets.closeAll();
      await app.close();
      upstreams.close();
      await redis?.quit();
    },
  };
}
