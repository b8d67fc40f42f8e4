import * as grpc from "@grpc/grpc-js";
import { failedPrecondition, fromGrpcError, toGrpcStatus } from "@parley/kit/errors";
import t from "tap";
import { createUnaryChannel } from "../src/unary-channel";

// The edge's unary transport against a real grpc-js server: what grpc-js clients see, this
// channel must see too (statuses, messages, error details, deadlines, limits).
t.test("unary channel: answers, statuses with details, deadlines, limits, unreachable servers", async (t) => {
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  const unary = (handler: (request: Buffer, metadata: grpc.Metadata) => Promise<Buffer>) => ({
    path: "",
    handler: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      handler(call.request, call.metadata).then(
        (reply) => done(null, reply),
        (error: unknown) => {
          const translated = toGrpcStatus(error, "test.parley");
          done({ code: translated.code, details: translated.details, metadata: translated.metadata });
        },
      );
    },
  });
  const methods: Record<string, (request: Buffer, metadata: grpc.Metadata) => Promise<Buffer>> = {
    "/test.Echo/Echo": async (request, metadata) =>
      Buffer.concat([request, Buffer.from(`|${metadata.get("x-request-id")[0]}`)]),
    "/test.Echo/Refuse": async () => {
      throw failedPrecondition("INSUFFICIENT_FUNDS", "not enough money", {
        metadata: { shortfall_minor: "500" },
      });
    },
    "/test.Echo/Slow": () => new Promise((resolve) => setTimeout(() => resolve(Buffer.from("late")), 2_000)),
    "/test.Echo/Huge": async () => Buffer.alloc(2048, 1),
  };
  for (const [path, handler] of Object.entries(methods))
    server.register(path, unary(handler).handler, raw, raw, "unary");
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  t.teardown(() => server.forceShutdown());

  for (const target of [`127.0.0.1:${port}`, `dns:///localhost:${port}`]) {
    const channel = createUnaryChannel(target, 1024);
    t.teardown(() => channel.close());
    const answer = await channel.call(
      "/test.Echo/Echo",
      Buffer.from("hello"),
      { "x-request-id": "r-1" },
      5_000,
    );
    t.equal(answer.toString(), "hello|r-1", `${target}: the message and the metadata went through`);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        channel.call("/test.Echo/Echo", Buffer.from(String(i)), { "x-request-id": "r" }, 5_000),
      ),
    );
    t.same(
      answers.map((a) => a.toString()),
      Array.from({ length: 50 }, (_, i) => `${i}|r`),
      "concurrent calls share the connection and keep their answers apart",
    );
  }
  const channel = createUnaryChannel(`127.0.0.1:${port}`, 1024);
  t.teardown(() => channel.close());
  const refused = await channel
    .call("/test.Echo/Refuse", Buffer.alloc(0), {}, 5_000)
    .catch((e: grpc.ServiceError) => e);
  t.equal((refused as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
  const appError = fromGrpcError(refused as grpc.ServiceError);
  t.match(appError, {
    reason: "INSUFFICIENT_FUNDS",
    message: "not enough money",
    metadata: { shortfall_minor: "500" },
  });

  const started = Date.now();
  const slow = await channel
    .call("/test.Echo/Slow", Buffer.alloc(0), {}, 200)
    .catch((e: grpc.ServiceError) => e);
  t.equal((slow as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
  t.ok(Date.now() - started < 1_500, "given up at the deadline, not at the answer");
  const huge = await channel
    .call("/test.Echo/Huge", Buffer.alloc(0), {}, 5_000)
    .catch((e: grpc.ServiceError) => e);
  t.equal(
    (huge as grpc.ServiceError).code,
    grpc.status.RESOURCE_EXHAUSTED,
    "an answer over the size limit is refused",
  );
  const missing = await channel
    .call("/test.Echo/Nope", Buffer.alloc(0), {}, 5_000)
    .catch((e: grpc.ServiceError) => e);
  t.equal((missing as grpc.ServiceError).code, grpc.status.UNIMPLEMENTED);

  const nowhere = createUnaryChannel("127.0.0.1:1", 1024);
  t.teardown(() => nowhere.close());
  const down = await nowhere
    .call("/test.Echo/Echo", Buffer.alloc(0), {}, 5_000)
    .catch((e: grpc.ServiceError) => e);
  t.equal((down as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  t.equal(
    fromGrpcError(down as grpc.ServiceError).message,
    "a service is unavailable; retry shortly",
    "no host or port",
  );

  // A static list with a dead instance in it (nothing listens on port 1): every call is answered,
  // the refused connection sending each call on to the live address at once.
  const listed = createUnaryChannel(`ipv4:127.0.0.1:1,127.0.0.1:${port}`, 1024);
  t.teardown(() => listed.close());
  const through = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      if (i === 3) await new Promise((resolve) => setTimeout(resolve, 1_100));
      return listed.call("/test.Echo/Echo", Buffer.from(String(i)), { "x-request-id": "l" }, 5_000);
    }),
  );
  t.same(
    through.map((a) => a.toString()),
    Array.from({ length: 6 }, (_, i) => `${i}|l`),
    "ipv4:a,b lists spread calls, and a refused address passes the call on",
  );
});
