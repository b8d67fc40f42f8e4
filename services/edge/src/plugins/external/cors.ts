import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/**
 * Browser origins allowed to call the API. With none, nothing is registered: @fastify/cors
 * with CORS disabled still runs a hook on every request only to decide to do nothing, and
 * its OPTIONS route answers the same 404 as no route at all.
 */
export default fp(
  async (app: FastifyInstance, options: { origins: string[] }) => {
    if (options.origins.length === 0) return;
    await app.register(cors, { origin: options.origins, credentials: true });
  },
  { name: "cors" },
);
