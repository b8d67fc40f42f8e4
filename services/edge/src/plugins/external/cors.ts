import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** Browser origins allowed to call the API (none when the list is empty). */
export default fp(
  async (app: FastifyInstance, options: { origins: string[] }) => {
    await app.register(cors, {
      origin: options.origins.length > 0 ? options.origins : false,
      credentials: true,
    });
  },
  { name: "cors" },
);
