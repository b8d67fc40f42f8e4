import rateLimit from "@fastify/rate-limit";
import { addressKey } from "@parley/kit/addresses";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { personRateKey, RATE_WINDOW_MS, type RateStore, rateLimited } from "../../http/rate-counter";

export interface RateLimitOptions {
  /** Requests per minute per key, for routes without settings of their own. */
  perMinute: number;
  store: RateStore;
}

/**
 * A signed-in person has their own allowance; anyone else (partner keys included: only auth
 * can tell a real key from an invented one, so an invented key must not buy a fresh bucket)
 * is counted per address (an IPv6 one by its /64, `addressKey`). Needs `request.principal`, set by the authentication hook that runs
 * before any route's hooks.
 */
export const rateKey = (request: FastifyRequest) =>
  request.principal?.kind === "user"
    ? personRateKey(request.principal.userId)
    : `ip:${addressKey(request.ip)}`;

/**
 * Request rate limits per route and caller, counted by the edge's shared counter (no Redis
 * round trip per request; see rate-counter.ts). Each RPC route carries its own settings
 * (`config.rateLimit`) and its own counters; over the limit is RESOURCE_EXHAUSTED
 * RATE_LIMITED (429) with Retry-After.
 */
export default fp(
  async (app: FastifyInstance, options: RateLimitOptions) => {
    const store = options.store;
    await app.register(rateLimit, {
      max: options.perMinute,
      timeWindow: RATE_WINDOW_MS,
      store: function SharedStore() {
        return store;
      } as never,
      keyGenerator: rateKey,
      // Only a refused request carries the limit headers; others stay lean.
      addHeadersOnExceeding: {
        "x-ratelimit-limit": false,
        "x-ratelimit-remaining": false,
        "x-ratelimit-reset": false,
      },
      errorResponseBuilder: (_request, context) => rateLimited(context.max, context.ttl),
    });
  },
  { name: "rate-limit" },
);
