import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { toHttpError } from "../../http/errors";

declare module "fastify" {
  interface FastifyContextConfig {
    /** An RPC route whose body is one field of the request (`body: "profile"`): violations are named under it. */
    bodyField?: string;
  }
}

/**
 * The one error envelope, for every route: whatever went wrong (a schema, a parser, a limit,
 * a service) the answer is `{"error": {code, status, reason, message, details, request_id}}`
 * (see http/errors.ts), with Retry-After when the caller may retry. Failures on the edge's
 * side (5xx) are logged with the request id, status and reason; nothing about them reaches the
 * caller.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error, request, reply) => {
      const mapped = toHttpError(error, request.id, request.routeOptions.config?.bodyField);
      if (mapped.statusCode >= 500) {
        // A retryable outage upstream (503, 504) was logged where it happened: a warning here.
        const level = mapped.statusCode === 503 || mapped.statusCode === 504 ? "warn" : "error";
        request.log[level](
          { err: error, requestId: request.id, status: mapped.statusCode, reason: mapped.body.error.reason },
          "request failed",
        );
      }
      if (mapped.retryAfterSeconds) reply.header("retry-after", String(mapped.retryAfterSeconds));
      return reply.code(mapped.statusCode).send(mapped.body);
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
  },
  { name: "errors" },
);
