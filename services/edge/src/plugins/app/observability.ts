import { Histogram, type Registry } from "@parley/kit/metrics";
import { endSpan, startHttpServerSpan, type Traced, tracingEnabled } from "@parley/kit/tracing";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { AccessLog } from "../../access-log";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route's name in metrics and the access log (an RPC's annotated template). */
    label?: string;
  }
  interface FastifyRequest {
    /** The request's SERVER span while tracing is on: upstream calls run in its context. */
    trace?: Traced;
  }
}

export interface ObservabilityOptions {
  metrics: Registry;
  /** Where access lines go: one per request, no secrets (it sees none). */
  accessLog: AccessLog;
}

/**
 * Per request, once it is answered: an `http_server_request_duration_seconds` observation
 * labelled by method, route (the template, never the raw path) and status, and one access
 * log line (method, route, status, duration, request id). The labelled histogram children
 * are kept per route and status, so no label set is hashed per request. While tracing is on,
 * each request is a SERVER span (continuing the caller's W3C `traceparent` if it sent one),
 * named by method and route, with the request id and status, ended when the answer is sent.
 */
const spanFields = (traced: Traced) => {
  const { traceId, spanId } = traced.span.spanContext();
  return { trace_id: traceId, span_id: spanId };
};

export default fp(
  async (app: FastifyInstance, options: ObservabilityOptions) => {
    const duration = new Histogram({
      name: "http_server_request_duration_seconds",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [options.metrics],
    });
    type Child = ReturnType<typeof duration.labels>;
    const children = new Map<string, Child>();
    const child = (method: string, route: string, status: number) => {
      const key = `${method} ${route} ${status}`;
      let found = children.get(key);
      if (!found) {
        found = duration.labels(method, route, String(status));
        children.set(key, found);
      }
      return found;
    };
    const tracing = tracingEnabled();
    if (tracing) {
      app.addHook("onRequest", (request, _reply, done) => {
        const route = request.routeOptions.config?.label ?? request.routeOptions.url ?? "unmatched";
        request.trace = startHttpServerSpan(request.method, request.headers, {
          "http.route": route,
          "url.path": request.url.split("?")[0]!,
          "parley.request_id": String(request.id),
        });
        request.trace?.span.updateName(`${request.method} ${route}`);
        done();
      });
    }
    app.addHook("onResponse", (request, reply, done) => {
      const config = request.routeOptions.config;
      const route = config?.label ?? request.routeOptions.url ?? "unmatched";
      const ms = reply.elapsedTime;
      child(request.method, route, reply.statusCode).observe(ms / 1000);
      const span = request.trace;
      if (span) {
        span.span.setAttribute("http.response.status_code", reply.statusCode);
        endSpan(span, reply.statusCode >= 500 ? new Error(`HTTP ${reply.statusCode}`) : undefined);
      }
      options.accessLog.write({
        method: request.method,
        route,
        status: reply.statusCode,
        ms,
        requestId: request.id,
        ...(span ? { trace: spanFields(span) } : {}),
      });
      done();
    });
  },
  { name: "observability" },
);
