// A gRPC server answering every unary call with the same response (argv[2], base64), over
// Node's HTTP/2 server: as cheap an upstream as gRPC allows, so a run through the edge
// against it measures the edge's own ceiling. Calls come one per stream (an edge before the
// relay) or relayed (RelayService: protos/parley/relay/v1/relay.proto), so builds of either
// kind can be compared before it. Prints {"port"} once listening.
import http2 from "node:http2";
import { RelayRequest, RelayResponse, RelayServiceService } from "@parley/proto/parley/relay/v1/relay";

const message = Buffer.from(process.argv[2] ?? "", "base64");
const frame = (bytes: Uint8Array) => {
  const framed = Buffer.allocUnsafe(5 + bytes.length);
  framed[0] = 0;
  framed.writeUInt32BE(bytes.length, 1);
  framed.set(bytes, 5);
  return framed;
};

/** Every relayed call answered at once with the message. */
function relay(stream: http2.ServerHttp2Stream) {
  stream.respond({ ":status": 200, "content-type": "application/grpc" });
  let buffered: Buffer | undefined;
  stream.on("data", (chunk: Buffer) => {
    let data = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    while (data.length >= 5 && data.length >= 5 + data.readUInt32BE(1)) {
      const end = 5 + data.readUInt32BE(1);
      const { id } = RelayRequest.decode(data.subarray(5, end));
      const answer = { id, code: 0, message, details: "", trailers: {}, unprocessed: false };
      stream.write(frame(RelayResponse.encode(answer).finish()));
      data = data.subarray(end);
    }
    buffered = data.length > 0 ? data : undefined;
  });
  stream.on("end", () => stream.end());
}

const server = http2.createServer();
server.on("stream", (stream, headers) => {
  if (headers[":path"] === RelayServiceService.relay.path) return relay(stream);
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame(message));
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
