// The baseline of `pnpm bench:edge`: a bare Fastify server in its own process answering the
// benchmarked route with the same JSON body as the edge, and nothing else (no plugins, no
// hooks). Prints {"port"} once listening; the body comes as argv[2].
import Fastify from "fastify";

const body = process.argv[2] ?? "{}";
const app = Fastify();
app.get("/*", async (_request, reply) => reply.type("application/json; charset=utf-8").send(body));
await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
