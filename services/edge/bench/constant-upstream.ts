// A gRPC server answering every unary call with the same response (argv[2], base64), over
// Node's HTTP/2 server: as cheap an upstream as gRPC allows, so a run through the edge
// against it measures the edge's own ceiling. Prints {"port"} once listening.
import http2 from "node:http2";

const message = Buffer.from(process.argv[2] ?? "", "base64");
const framed = Buffer.allocUnsafe(5 + message.length);
framed[0] = 0;
framed.writeUInt32BE(message.length, 1);
message.copy(framed, 5);
const server = http2.createServer();
server.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(framed);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
