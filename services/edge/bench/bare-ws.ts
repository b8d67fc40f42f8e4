// The fan-out baseline of `pnpm bench:edge`: a bare `ws` server in its own process. A
// {"type":"broadcast","text"} frame is sent, as an event frame of the edge's shape and size,
// to every other connected socket: the obvious broadcast loop, nothing more. Prints {"port"}.
import { WebSocketServer } from "ws";

const sample = process.argv[2] ?? "{}";
const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
server.on("connection", (socket) => {
  socket.on("message", (data) => {
    const { text } = JSON.parse(data.toString()) as { text: string };
    const frame = sample.replace("__TEXT__", text);
    for (const client of server.clients) if (client !== socket) client.send(frame);
  });
});
server.on("listening", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
