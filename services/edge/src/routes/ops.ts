import type { Registry } from "@parley/kit/metrics";
import type { FastifyPluginAsync } from "fastify";
import type { JSONWebKeySet } from "jose";

export interface OpsOptions {
  metrics: Registry;
  jwks: () => Promise<JSONWebKeySet>;
  /** The OpenAPI and AsyncAPI documents, serialised once. */
  openapi: string;
  asyncapi: string;
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * Operations: liveness (`/healthz`), readiness (`/readyz`: every service's gRPC health; 503
 * naming the one down), Prometheus metrics, the token keys and the API documents. Probes and
 * scrapes are not rate limited.
 */
const opsRoutes: FastifyPluginAsync<OpsOptions> = async (app, options) => {
  const unlimited = { config: { rateLimit: false } } as const;
  app.get("/healthz", unlimited, async () => ({ status: "ok" }));
  app.get("/readyz", unlimited, async (_request, reply) => {
    const upstream = await app.upstreams.ready();
    const ready = Object.values(upstream).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", upstream });
  });
  app.get("/metrics", unlimited, async (_request, reply) =>
    reply.type(options.metrics.contentType).send(await options.metrics.metrics()),
  );
  app.get("/.well-known/jwks.json", async (_request, reply) =>
    reply.header("cache-control", "public, max-age=300").send(await options.jwks()),
  );
  app.get("/openapi.json", async (_request, reply) => reply.type(JSON_TYPE).send(options.openapi));
  app.get("/asyncapi.json", async (_request, reply) => reply.type(JSON_TYPE).send(options.asyncapi));
};

export default opsRoutes;
