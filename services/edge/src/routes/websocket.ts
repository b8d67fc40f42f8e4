import type { FastifyPluginAsync } from "fastify";
import type { SocketHub } from "../ws/socket";

/** `GET /v1/ws`: the WebSocket protocol (ws/protocol.ts), one connection per socket. */
const websocketRoutes: FastifyPluginAsync<{ hub: SocketHub }> = async (app, options) => {
  app.get("/v1/ws", { websocket: true }, (socket, request) => options.hub.handle(socket, { ip: request.ip }));
};

export default websocketRoutes;
