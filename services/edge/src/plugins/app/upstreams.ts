import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Upstreams } from "../../upstreams";

declare module "fastify" {
  interface FastifyInstance {
    /** One long-lived gRPC channel per service (see upstreams.ts). */
    upstreams: Upstreams;
  }
}

/** The upstream clients, shared by every route and closed with the app. */
export default fp(
  async (app: FastifyInstance, options: { upstreams: Upstreams }) => {
    app.decorate("upstreams", options.upstreams);
    app.addHook("onClose", async () => options.upstreams.close());
  },
  { name: "upstreams" },
);
