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
 * The key set is asked of auth at most this often, however many clients fetch it (they are told
 * to keep it 5 minutes); a key auth adds is published 2 minutes before it signs anything.
 */
const JWKS_CACHE_MS = 60_000;

/**
 * Operations: liveness (`/healthz`), readiness (`/readyz`: every service's gRPC health; 503
 * naming the one down), Prometheus metrics, the token keys and the API documents. Probes and
 * scrapes are not rate limited.
 */
const opsRoutes: FastifyPluginAsync<OpsOptions> = async (app, options) => {
  const unlimited = { config: { rateLimit: false } } as const;
  let jwks: { at: number; keys: Promise<JSONWebKeySet> } | undefined;
  const currentJwks = () => {
    if (!jwks || Date.now() - jwks.at >= JWKS_CACHE_MS) {
      const keys = options.jwks();
      jwks = { at: Date.now(), keys };
      // A failure is not kept: the next request asks again.
      keys.catch(() => {
        if (jwks?.keys === keys) jwks = undefined;
      });
    }
    return jwks.keys;
  };
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
    reply.header("cache-control", "public, max-age=300").send(await currentJwks()),
  );
  app.get("/openapi.json", async (_request, reply) => reply.type(JSON_TYPE).send(options.openapi));
  app.get("/asyncapi.json", async (_request, reply) => reply.type(JSON_TYPE).send(options.asyncapi));
};

export default opsRoutes;
