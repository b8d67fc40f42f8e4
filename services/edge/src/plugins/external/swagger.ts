import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** Where the one OpenAPI document is served. */
export const OPENAPI_URL = "/openapi.json";

/**
 * The API docs: @fastify/swagger holds the OpenAPI document generated from the descriptors
 * (static: routes built from descriptors carry no hand-written schemas to collect), and
 * Swagger UI serves it at /docs, locally (works offline). The document has one URL,
 * /openapi.json: the UI's own spec routes point there.
 */
export default fp(
  async (app: FastifyInstance, options: { document: Record<string, unknown> }) => {
    await app.register(swagger, { mode: "static", specification: { document: options.document as never } });
    await app.register(swaggerUi, {
      routePrefix: "/docs",
      uiHooks: {
        onRequest: (request, reply, done) => {
          const url = request.routeOptions.url ?? "";
          if (url.endsWith("/json") || url.endsWith("/yaml")) reply.redirect(OPENAPI_URL, 308);
          else done();
        },
      },
    });
  },
  { name: "swagger" },
);
