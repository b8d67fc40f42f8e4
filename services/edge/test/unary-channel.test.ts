import * as grpc from "@grpc/grpc-js";
import { allow } from "@parley/kit/auth";
import { failedPrecondition, fromGrpcError } from "@parley/kit/errors";
import { bindService, createGrpcServer, type Handlers } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import {
  BillingServiceService,
  GetWalletRequest,
  GetWalletResponse,
} from "@parley/proto/parley/billing/v1/billing";
import { startTcpProxy } from "@parley/testing";
import t, { type Test } from "tap";
import { createUnaryChannel } from "../src/unary-channel";

type Billing = typeof BillingServiceService;

/**
 * A kit server (what every Parley service runs) of BillingService whose GetWallet behaves by
 * user id: "refuse" fails with details, "slow" answers in 2 s, "huge" answers 2 KiB, anything
 * else is echoed with the call's x-request-id.
 */
async function walletServer(t: Test) {
  const anyone = Object.fromEntries(Object.keys(BillingServiceService).map((key) => [key, allow.anyone]));
  // Only GetWallet is called here.
  const handlers = {
    async getWallet(request, ctx) {
      if (request.userId === "refuse")
        throw failedPrecondition("INSUFFICIENT_FUNDS", "not enough money", {
          metadata: { shortfall_minor: "500" },
        });
      if (request.userId === "slow") await new Promise((resolve) => setTimeout(resolve, 2_000));
      const userId =
        request.userId === "huge"
          ? "x".repeat(2048)
          : `${request.userId}|${ctx.metadata.get("x-request-id")[0]}`;
      return { wallet: { userId, minutesLeft: 0n } };
    },
  } as Handlers<Billing>;
  const server = createGrpcServer({
    name: "wallet",
    log: createLogger({ service: "wallet", level: "silent" }),
    authenticate: async () => ({ kind: "anonymous" }),
    services: [bindService(BillingServiceService, handlers, anyone as never)],
  });
  const port = await server.listen("127.0.0.1:0");
  t.teardown(() => server.shutdown(100));
  return { server, port };
}

const GET_WALLET = "/parley.billing.v1.BillingService/GetWallet";
const ask = (userId: string) =>
  Buffer.from(GetWalletRequest.encode({ userId, currency: "", rateMinor: 0n }).finish());
const userIdOf = (answer: Buffer) => GetWalletResponse.decode(answer).wallet?.userId;

// The edge's unary transport against a real kit server: what grpc-js clients see, this
// channel must see too (statuses, messages, error details, deadlines, limits).
t.test("unary channel: answers, statuses with details, deadlines, limits, unreachable servers", async (t) => {
  const { port } = await walletServer(t);

  for (const target of [`127.0.0.1:${port}`, `dns:///localhost:${port}`]) {
    const channel = createUnaryChannel(target, 1024);
    t.teardown(() => channel.close());
    const answer = await channel.call(GET_WALLET, ask("hello"), { "x-request-id": "r-1" }, 5_000);
    t.equal(userIdOf(answer), "hello|r-1", `${target}: the message and the metadata went through`);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        channel.call(GET_WALLET, ask(String(i)), { "x-request-id": "r" }, 5_000),
      ),
    );
    t.same(
      answers.map(userIdOf),
      Array.from({ length: 50 }, (_, i) => `${i}|r`),
      "concurrent calls share the connection and keep their answers apart",
    );
  }
  const channel = createUnaryChannel(`127.0.0.1:${port}`, 1024);
  t.teardown(() => channel.close());
  const refused = await channel.call(GET_WALLET, ask("refuse"), {}, 5_000).catch((e: grpc.ServiceError) => e);
  t.equal((refused as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
  const appError = fromGrpcError(refused as grpc.ServiceError);
  t.match(appError, {
    reason: "INSUFFICIENT_FUNDS",
    message: "not enough money",
    metadata: { shortfall_minor: "500" },
  });

  const started = Date.now();
  const slow = await channel.call(GET_WALLET, ask("slow"), {}, 200).catch((e: grpc.ServiceError) => e);
  t.equal((slow as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
  t.ok(Date.now() - started < 1_500, "given up at the deadline, not at the answer");
  const huge = await channel.call(GET_WALLET, ask("huge"), {}, 5_000).catch((e: grpc.ServiceError) => e);
  t.equal(
    (huge as grpc.ServiceError).code,
    grpc.status.RESOURCE_EXHAUSTED,
    "an answer over the size limit is refused",
  );
  const missing = await channel
    .call("/parley.billing.v1.BillingService/Nope", ask("u"), {}, 5_000)
    .catch((e: grpc.ServiceError) => e);
  t.equal((missing as grpc.ServiceError).code, grpc.status.UNIMPLEMENTED);

  const nowhere = createUnaryChannel("127.0.0.1:1", 1024);
  t.teardown(() => nowhere.close());
  const down = await nowhere.call(GET_WALLET, ask("u"), {}, 5_000).catch((e: grpc.ServiceError) => e);
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
      return listed.call(GET_WALLET, ask(String(i)), { "x-request-id": "l" }, 5_000);
    }),
  );
  t.same(
    through.map(userIdOf),
    Array.from({ length: 6 }, (_, i) => `${i}|l`),
    "ipv4:a,b lists spread calls, and a refused address passes the call on",
  );
});

t.test("an instance shutting down finishes its calls and hands new ones to the next", async (t) => {
  const stopping = await walletServer(t);
  const staying = await walletServer(t);
  const channel = createUnaryChannel(`ipv4:127.0.0.1:${stopping.port},127.0.0.1:${staying.port}`, 1 << 20);
  t.teardown(() => channel.close());
  const headers = { "x-request-id": "s" };
  // Both relay streams open: the next call goes to the instance that will stop.
  await Promise.all([
    channel.call(GET_WALLET, ask("a"), headers, 5_000),
    channel.call(GET_WALLET, ask("b"), headers, 5_000),
  ]);
  const inFlight = channel.call(GET_WALLET, ask("slow"), headers, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stopped = stopping.server.shutdown(5_000);
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => channel.call(GET_WALLET, ask(String(i)), headers, 5_000)),
  );
  t.same(
    answers.map(userIdOf),
    Array.from({ length: 20 }, (_, i) => `${i}|s`),
    "every new call answered",
  );
  t.equal(userIdOf(await inFlight), "slow|s", "the call in flight on the stopping instance finished");
  await stopped;
});

t.test(
  "a server gone silent (no FIN, no RST) fails its calls at the keepalive's timeout, not their deadline",
  async (t) => {
    const { port } = await walletServer(t);
    const link = await startTcpProxy(t, `127.0.0.1:${port}`);
    // Short, but not so short that a loaded machine's pause gives up a healthy connection.
    const channel = createUnaryChannel(`127.0.0.1:${link.port}`, 1 << 20, {
      intervalMs: 300,
      timeoutMs: 1_000,
    });
    t.teardown(() => channel.close());
    const headers = { "x-request-id": "k" };
    t.equal(userIdOf(await channel.call(GET_WALLET, ask("a"), headers, 5_000)), "a|k");
    const started = performance.now();
    const inFlight = channel.call(GET_WALLET, ask("slow"), headers, 10_000);
    link.silence();
    const error = await inFlight.then(
      () => undefined,
      (failure: { code: number }) => failure,
    );
    const waited = performance.now() - started;
    t.equal(error?.code, grpc.status.UNAVAILABLE, "the call fails as its server is unreachable");
    t.ok(waited < 5_000, `after ${waited.toFixed(0)} ms, not at the 10-s deadline`);
    link.speak();
    t.equal(
      userIdOf(await channel.call(GET_WALLET, ask("b"), headers, 5_000)),
      "b|k",
      "the next call goes over a new connection",
    );
  },
);
