import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/**
 * WebSocket upgrades. A protocol breach a client commits (a message over `maxPayload`, all
 * its fragments together, or a malformed frame) is answered by ws itself with the close code
 * it calls for (1009, 1002…), which must reach the client: the socket is left to finish its
 * closing handshake, not cut (a cut socket reads as 1006), and the breach is the client's,
 * not an error of ours. Other socket errors (a peer that vanished) end the socket.
 */
export default fp(
  async (app: FastifyInstance, options: { maxPayload: number }) => {
    await app.register(websocket, {
      options: { maxPayload: options.maxPayload },
      errorHandler: (error, socket, request) => {
        const code = (error as { code?: string }).code ?? "";
        if (code.startsWith("WS_ERR_")) {
          request.log.info(
            { err: { message: error.message, code }, requestId: request.id },
            "websocket client broke the protocol",
          );
          return;
        }
        request.log.debug({ err: error, requestId: request.id }, "websocket connection failed");
        socket.terminate();
      },
    });
  },
  { name: "websocket" },
);
