import { unauthenticated } from "@parley/kit/errors";
import { runTraced } from "@parley/kit/tracing";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { Catalogue, Rpc } from "../http/catalogue";
import { RATE_WINDOW_MS, routeLimit } from "../http/rate-counter";
import { rpcSchemas, schemaBuilder } from "../http/schemas";
import { decodeResponse, encodeRequest } from "../http/transcode";
import { validatorCompiler } from "../http/validation";
import { upstreamMetadata } from "../metadata";

export interface RpcRoutesOptions {
  catalogue: Catalogue;
  deadlineMs: number;
  /**
   * Requests per minute per caller for each RPC route (`perMinute`), unless the route has its
   * own (`routes`, by verb and template: `POST /v1/auth/login` → 60).
   */
  rates: { perMinute: number; routes: Record<string, number> };
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * One Fastify route per annotated RPC, built from the descriptors: its URL from the
 * google.api.http template, JSON schemas for path, query and body from the request message
 * (a refusal names the field), its own metrics label and rate-limit settings. The handler
 * only assembles the request, calls the service and writes its answer as proto3 JSON.
 */
const rpcRoutes: FastifyPluginAsync<RpcRoutesOptions> = async (app, options) => {
  const { catalogue, deadlineMs } = options;
  const builder = schemaBuilder(catalogue);
  app.setValidatorCompiler(validatorCompiler());

  const route = (rpc: Rpc) => {
    const signedIn = rpc.callers !== undefined && !rpc.callers.anonymous;
    app.route({
      method: rpc.verb,
      url: rpc.url,
      schema: rpcSchemas(rpc, builder, catalogue).request({ kind: "validate" }),
      config: {
        label: rpc.template,
        bodyField: rpc.body === "*" ? "" : rpc.body,
        rateLimit: { max: routeLimit(rpc, options.rates), timeWindow: RATE_WINDOW_MS },
      },
      // An anonymous call to an RPC that needs a caller is answered here, as the service
      // would (same reason), before its body is checked or a service is asked.
      ...(signedIn
        ? {
            onRequest: (request: FastifyRequest, _reply: unknown, done: (error?: Error) => void) =>
              done(
                request.principal.kind === "anonymous" && !request.apiKey
                  ? unauthenticated("UNAUTHENTICATED", "sign in to call this RPC")
                  : undefined,
              ),
          }
        : {}),
      // A body-less POST is an empty request message.
      ...(rpc.body
        ? {
            preValidation: (request: FastifyRequest, _reply: unknown, done: () => void) => {
              if (request.body === undefined || request.body === null) request.body = {};
              done();
            },
          }
        : {}),
      handler: async (request, reply) => {
        const bytes = encodeRequest(
          rpc,
          {
            params: request.params as Record<string, string>,
            query: request.query as Record<string, unknown>,
            body: request.body,
          },
          catalogue.registry,
        );
        const response = await runTraced(request.trace, () =>
          app.upstreams.unary(
            rpc.upstream,
            rpc.grpcPath,
            bytes,
            upstreamMetadata({
              requestId: request.id,
              bearerToken: request.bearerToken,
              apiKey: request.apiKey,
              clientIp: request.ip,
              userAgent: request.headers["user-agent"],
              acceptLanguage: request.headers["accept-language"],
            }),
            deadlineMs,
          ),
        );
        reply.type(JSON_TYPE);
        return JSON.stringify(decodeResponse(rpc.method.output, response, catalogue.registry));
      },
    });
  };
  for (const rpc of catalogue.rpcs) route(rpc);
};

export default rpcRoutes;
