import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { AppError } from "@parley/kit/errors";
import { createHealthChecker, createServiceClient } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import t, { type Test } from "tap";
import { testServer } from "./fixtures/wallet-server";

async function started(t: Test, options: Parameters<typeof testServer>[0] = {}) {
  const server = testServer(options);
  const port = await server.listen("127.0.0.1:0");
  t.teardown(() => server.shutdown(1_000));
  const address = `127.0.0.1:${port}`;
  const client = createServiceClient(BillingServiceService, { address });
  t.teardown(() => client.close());
  return { server, address, client };
}

const failure = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
};

t.test(
  "health checking reports SERVING for the server and each service, NOT_SERVING after shutdown",
  async (t) => {
    const { server, address } = await started(t);
    const health = createHealthChecker(address);
    t.teardown(() => health.close());
    t.equal(await health.check(""), "SERVING");
    t.equal(await health.check("parley.billing.v1.BillingService"), "SERVING");
    await server.shutdown(100);
    await t.rejects(health.check(""), "a stopped server no longer answers");
  },
);

t.test("server reflection lists the bound services", async (t) => {
  const { address } = await started(t);
  const protoFile = path.join(
    path.dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
    "build/proto/grpc/reflection/v1/reflection.proto",
  );
  const definition = grpc.loadPackageDefinition(loadSync(protoFile)) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const reflection = new definition.grpc.reflection.v1.ServerReflection(
    address,
    grpc.credentials.createInsecure(),
  );
  t.teardown(() => reflection.close());
  const call = reflection.ServerReflectionInfo!() as grpc.ClientDuplexStream<
    unknown,
    {
      listServicesResponse: { service: Array<{ name: string }> };
    }
  >;
  call.write({ listServices: "" });
  const [response] = await Promise.all([
    new Promise<{ listServicesResponse: { service: Array<{ name: string }> } }>((resolve) =>
      call.once("data", resolve),
    ),
  ]);
  call.end();
  const names = response.listServicesResponse.service.map((s) => s.name);
  t.ok(names.includes("parley.billing.v1.BillingService"), `lists BillingService (${names.join(", ")})`);
});

t.test("a typed response round-trips through the generated client, int64 exact beyond 2^53", async (t) => {
  const { client } = await started(t);
  const { wallet } = await client.getWallet({ userId: "u1", currency: "", rateMinor: 0n });
  t.equal(wallet?.balance?.amountMinor, 9_007_199_254_740_993n);
});

t.test("a deadline that passes becomes DEADLINE_EXCEEDED", async (t) => {
  const { client } = await started(t);
  const error = await failure(
    client.getWallet({ userId: "until-cancelled", currency: "", rateMinor: 0n }, { deadlineMs: 50 }),
  );
  t.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
  t.equal(error.kind, "deadline_exceeded");
});

t.test("an AppError's reason and metadata reach the caller as google.rpc.ErrorInfo", async (t) => {
  const { client } = await started(t);
  const error = await failure(client.getWallet({ userId: "short", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.FAILED_PRECONDITION);
  t.equal(error.reason, "INSUFFICIENT_FUNDS");
  t.same(error.metadata, { shortfall_minor: "500", currency: "INR" });
});

t.test("an unexpected error becomes INTERNAL with a generic message", async (t) => {
  const { client } = await started(t);
  const error = await failure(client.getWallet({ userId: "boom", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.INTERNAL);
  t.equal(error.message, "internal error");
  t.notMatch(error.message, /postgres/);
});

t.test("a malformed credential is UNAUTHENTICATED, never treated as anonymous", async (t) => {
  const { client } = await started(t);
  const error = await failure(
    client.getWallet({ userId: "u1", currency: "", rateMinor: 0n }, { bearerToken: "not-a-jwt" }),
  );
  t.equal(error.code, grpc.status.UNAUTHENTICATED);
  t.equal(error.reason, "TOKEN_INVALID");
});

t.test("an RPC missing from the permission map is denied to everyone", async (t) => {
  const { client } = await started(t, { unmapped: ["getWallet"] });
  const error = await failure(client.getWallet({ userId: "u1", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.PERMISSION_DENIED);
  t.equal(error.reason, "RPC_NOT_PERMITTED");
});

t.test("SIGTERM lets a call in flight finish, then the process exits 0", async (t) => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "fixtures/wallet-server.ts")],
    {
      env: { ...process.env, TEST_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  t.teardown(() => child.kill("SIGKILL"));
  const port = await new Promise<number>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /"address":"[^"]*:(\d+)"/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
  const client = createServiceClient(BillingServiceService, { address: `127.0.0.1:${port}` });
  t.teardown(() => client.close());
  const inFlight = client.getWallet({ userId: "slow", currency: "", rateMinor: 400n });
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.kill("SIGTERM");
  const { wallet } = await inFlight;
  t.equal(wallet?.userId, "slow", "the in-flight call completed");
  t.equal(await exited, 0, "the process exited cleanly");
});
