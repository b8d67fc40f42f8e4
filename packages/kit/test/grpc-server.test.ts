import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import {
  checkedStream,
  controlCharacterViolations,
  createHealthChecker,
  createServiceClient,
} from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { failure } from "@parley/testing";
import t, { type Test } from "tap";
import { startWalletServer } from "./harness";

t.test(
  "health checking reports SERVING for the server and each service, NOT_SERVING after shutdown",
  async (t) => {
    const { server, address } = await startWalletServer(t);
    const health = createHealthChecker(address);
    t.teardown(() => health.close());
    t.equal(await health.check(""), "SERVING");
    t.equal(await health.check("parley.billing.v1.BillingService"), "SERVING");
    await server.shutdown(100);
    await t.rejects(health.check(""), "a stopped server no longer answers");
  },
);

/** A reflection stream to a server (grpc.reflection.v1), one request and answer at a time. */
function reflectionClient(t: Test, address: string) {
  const protoFile = path.join(
    path.dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
    "build/proto/grpc/reflection/v1/reflection.proto",
  );
  const definition = grpc.loadPackageDefinition(loadSync(protoFile, { oneofs: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const reflection = new definition.grpc.reflection.v1.ServerReflection(
    address,
    grpc.credentials.createInsecure(),
  );
  t.teardown(() => reflection.close());
  // biome-ignore lint/suspicious/noExplicitAny: reflection answers are asserted field by field
  const call = reflection.ServerReflectionInfo!() as grpc.ClientDuplexStream<unknown, any>;
  t.teardown(() => call.end());
  return (request: unknown) =>
    new Promise<{
      listServicesResponse?: { service: Array<{ name: string }> };
      fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
      errorResponse?: { errorCode: number };
    }>((resolve) => {
      call.once("data", resolve);
      call.write(request);
    });
}

t.test(
  "server reflection lists the bound services and serves the real files with their imports",
  async (t) => {
    const { address } = await startWalletServer(t);
    const ask = reflectionClient(t, address);
    const listed = await ask({ listServices: "" });
    t.same(
      listed.listServicesResponse?.service.map((s) => s.name),
      ["parley.billing.v1.BillingService"],
    );

    const answer = await ask({ fileContainingSymbol: "parley.billing.v1.BillingService" });
    const files = answer.fileDescriptorResponse!.fileDescriptorProto.map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
    const names = files.map((file) => file.name);
    t.equal(names[0], "parley/billing/v1/billing.proto", "the file declaring the service comes first");
    t.same(
      files[0]!.service.map((s) => s.name),
      ["BillingService"],
    );
    for (const file of files)
      for (const dependency of file.dependency)
        t.ok(names.includes(dependency), `${file.name}'s import ${dependency} is served with it`);
    const fieldMask = files.find((file) => file.name === "google/protobuf/field_mask.proto");
    if (fieldMask)
      t.same(
        fieldMask.messageType.map((m) => m.name),
        ["FieldMask"],
        "names match contents",
      );
    const method = await ask({ fileContainingSymbol: "parley.billing.v1.BillingService.GetWallet" });
    t.ok(method.fileDescriptorResponse, "a method resolves to its service's file");
    const byName = await ask({ fileByFilename: "parley/common/v1/money.proto" });
    t.equal(
      fromBinary(FileDescriptorProtoSchema, byName.fileDescriptorResponse!.fileDescriptorProto[0]!).name,
      "parley/common/v1/money.proto",
    );
    t.equal((await ask({ fileContainingSymbol: "parley.nothing.Here" })).errorResponse?.errorCode, 5);
  },
);

t.test("a typed response round-trips through the generated client, int64 exact beyond 2^53", async (t) => {
  const { client } = await startWalletServer(t);
  const { wallet } = await client.getWallet({ userId: "u1", currency: "", rateMinor: 0n });
  t.equal(wallet?.balance?.amountMinor, 9_007_199_254_740_993n);
});

t.test("a deadline that passes becomes DEADLINE_EXCEEDED", async (t) => {
  const { client } = await startWalletServer(t);
  const error = await failure(
    client.getWallet({ userId: "until-cancelled", currency: "", rateMinor: 0n }, { deadlineMs: 50 }),
  );
  t.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
  t.equal(error.kind, "deadline_exceeded");
});

t.test("an AppError's reason and metadata reach the caller as google.rpc.ErrorInfo", async (t) => {
  const { client } = await startWalletServer(t);
  const error = await failure(client.getWallet({ userId: "short", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.FAILED_PRECONDITION);
  t.equal(error.reason, "INSUFFICIENT_FUNDS");
  t.same(error.metadata, { shortfall_minor: "500", currency: "INR" });
});

t.test("an unexpected error becomes INTERNAL with a generic message", async (t) => {
  const { client } = await startWalletServer(t);
  const error = await failure(client.getWallet({ userId: "boom", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.INTERNAL);
  t.equal(error.message, "internal error");
  t.notMatch(error.message, /postgres/);
});

t.test("a malformed credential is UNAUTHENTICATED, never treated as anonymous", async (t) => {
  const { client } = await startWalletServer(t);
  const error = await failure(
    client.getWallet({ userId: "u1", currency: "", rateMinor: 0n }, { bearerToken: "not-a-jwt" }),
  );
  t.equal(error.code, grpc.status.UNAUTHENTICATED);
  t.equal(error.reason, "TOKEN_INVALID");
});

t.test("an RPC missing from the permission map is denied to everyone", async (t) => {
  const { client } = await startWalletServer(t, { unmapped: ["getWallet"] });
  const error = await failure(client.getWallet({ userId: "u1", currency: "", rateMinor: 0n }));
  t.equal(error.code, grpc.status.PERMISSION_DENIED);
  t.equal(error.reason, "RPC_NOT_PERMITTED");
});

/** The fixture server as its own process (stopOnSignals installed), and a client of it. */
async function spawnWalletServer(t: Test) {
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
  const lines: string[] = [];
  const port = await new Promise<number>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      const match = /"address":"[^"]*:(\d+)"/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
  const client = createServiceClient(BillingServiceService, { address: `127.0.0.1:${port}` });
  t.teardown(() => client.close());
  return { child, exited, client, lines };
}

t.test("SIGTERM lets a call in flight finish, then the process exits 0", async (t) => {
  const { child, exited, client } = await spawnWalletServer(t);
  const inFlight = client.getWallet({ userId: "slow", currency: "", rateMinor: 400n });
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.kill("SIGTERM");
  const { wallet } = await inFlight;
  t.equal(wallet?.userId, "slow", "the in-flight call completed");
  t.equal(await exited, 0, "the process exited cleanly");
});

t.test("a rejection nobody waits for is logged, and the process keeps serving", async (t) => {
  const { child, client, lines } = await spawnWalletServer(t);
  await client.getWallet({ userId: "orphan", currency: "", rateMinor: 0n });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(child.exitCode, null, "still running");
  const { wallet } = await client.getWallet({ userId: "after", currency: "", rateMinor: 0n });
  t.equal(wallet?.userId, "after", "still answering");
  t.ok(
    lines.some((line) => line.includes('"level":50') && line.includes("orphaned failure")),
    "the rejection is logged at error level",
  );
});

t.test("text with control characters is refused at the boundary, naming the field", async (t) => {
  const { client } = await startWalletServer(t);
  const refused = await failure(
    client.getWallet({ userId: "a\u0000b", currency: "IN\u0007R", rateMinor: 0n }),
  );
  t.equal(refused.code, grpc.status.INVALID_ARGUMENT);
  t.equal(refused.reason, "VALIDATION_FAILED");
  t.same(
    refused.fieldViolations.map((v) => v.field),
    ["user_id", "currency"],
  );
  t.match(refused.fieldViolations[0]!.description, /U\+0000/);
  const { wallet } = await client.getWallet({ userId: "tab\there\r\nnew line", currency: "", rateMinor: 0n });
  t.equal(wallet?.userId, "tab\there\r\nnew line", "tab, line feed and carriage return are text");
});

t.test("control characters are found in nested messages, lists, oneofs and map keys", async (t) => {
  t.same(
    controlCharacterViolations({
      profile: { displayName: "ok", languages: ["en", "h\u001bi"] },
      result: { $case: "challengeToken", value: "x\u007f" },
      metadata: { "k\u0085": "v" },
      raw: new Uint8Array([0, 1, 2]),
      at: new Date(0),
    }).map((v) => v.field),
    ["profile.languages[1]", "challenge_token", "metadata.k\u0085"],
  );
  const streamed = checkedStream(
    (async function* () {
      yield { record: { externalId: "fine" } };
      yield { record: { externalId: "bad\u0000" } };
    })(),
  );
  const seen: unknown[] = [];
  const error = await failure(
    (async () => {
      for await (const message of streamed) seen.push(message);
    })(),
  );
  t.equal(seen.length, 1, "messages before the bad one are delivered");
  t.same(
    error.fieldViolations.map((v) => v.field),
    ["record.external_id"],
  );
});
