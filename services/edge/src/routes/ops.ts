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
 * The services' health is asked at most this often, however many probes come (they are not
 * rate limited, and each answer asks four services).
 */
const READINESS_CACHE_MS = 1_000;

/**
 * `load`'s answer, shared by every caller for `ms` from when it was asked (callers while it is
 * pending wait for the same one). A failure is not kept: the next caller asks again.
 */
function sharedFor<T>(ms: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number; answer: Promise<T> } | undefined;
  return () => {
    if (!last || Date.now() - last.at >= ms) {
      const answer = load();
      const current = { at: Date.now(), answer };
      last = current;
      answer.catch(() => {
        if (last === current) last = undefined;
      });
    }
    return last.answer;
  };
}

/**
 * Operations: liveness (`/healthz`), readiness (`/readyz`: every service's gRPC health; 503
 * naming the one down, the answer kept a second), Prometheus metrics, the token keys and the API
 * documents. Probes and scrapes are not rate limited.
 */
const opsRoutes: FastifyPluginAsync<OpsOptions> = async (app, options) => {
  const unlimited = { config: { rateLimit: false } } as const;
  const currentJwks = sharedFor(JWKS_CACHE_MS, options.jwks);
  const readiness = sharedFor(READINESS_CACHE_MS, () => app.upstreams.ready());
  app.get("/healthz", unlimited, async () => ({ status: "ok" }));
  app.get("/readyz", unlimited, async (_request, reply) => {
    const upstream = await readiness();
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
