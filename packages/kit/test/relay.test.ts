import * as grpc from "@grpc/grpc-js";
import { fromGrpcError } from "@parley/kit/errors";
import { clientChannelOptions, DEFAULT_MAX_MESSAGE_BYTES } from "@parley/kit/grpc";
import { GetWalletRequest, GetWalletResponse } from "@parley/proto/parley/billing/v1/billing";
import { type RelayResponse, RelayServiceClient } from "@parley/proto/parley/relay/v1/relay";
import t, { type Test } from "tap";
import { startWalletServer } from "./harness";

const GET_WALLET = "/parley.billing.v1.BillingService/GetWallet";

/** A relay stream to `address`: calls by id, answers by id, and the stream's own end. */
function relayTo(t: Test, address: string) {
  const client = new RelayServiceClient(
    address,
    grpc.credentials.createInsecure(),
    clientChannelOptions(DEFAULT_MAX_MESSAGE_BYTES),
  );
  t.teardown(() => client.close());
  const stream = client.relay();
  t.teardown(() => stream.end());
  const answers = new Map<number, (response: RelayResponse) => void>();
  stream.on("data", (response: RelayResponse) => answers.get(response.id)?.(response));
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
  stream.on("error", () => undefined);
  let nextId = 1;
  const call = (
    userId: string,
    options: { metadata?: Record<string, string>; timeoutMs?: number; method?: string } = {},
  ) =>
    new Promise<RelayResponse>((resolve) => {
      const id = nextId++;
      answers.set(id, resolve);
      stream.write({
        id,
        method: options.method ?? GET_WALLET,
        message: GetWalletRequest.encode({ userId, currency: "", rateMinor: 50n }).finish() as Buffer,
        metadata: options.metadata ?? {},
        timeoutMs: options.timeoutMs ?? 5_000,
      });
    });
  return { call, ended };
}

/** A relayed failure as the kit's clients read a direct one. */
const asError = (response: RelayResponse) => {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(response.trailers))
    metadata.add(name, name.endsWith("-bin") ? value : value.toString());
  return fromGrpcError(Object.assign(new Error(response.details), { ...response, metadata }));
};

t.test(
  "a relayed call is served as a direct one: answers, typed errors, credentials, permissions",
  async (t) => {
    const { address } = await startWalletServer(t, { unmapped: ["listTransactions"] });
    const relay = relayTo(t, address);

    const answered = await relay.call("u1");
    t.equal(answered.code, grpc.status.OK);
    t.equal(GetWalletResponse.decode(answered.message).wallet?.balance?.amountMinor, 9_007_199_254_740_993n);

    const short = asError(await relay.call("short"));
    t.match(short, {
      code: grpc.status.FAILED_PRECONDITION,
      reason: "INSUFFICIENT_FUNDS",
      metadata: { shortfall_minor: "500", currency: "INR" },
    });
    t.match(asError(await relay.call("boom")), { code: grpc.status.INTERNAL, message: "internal error" });

    const forged = asError(await relay.call("u1", { metadata: { authorization: "Bearer not-a-jwt" } }));
    t.match(forged, { code: grpc.status.UNAUTHENTICATED, reason: "TOKEN_INVALID" }, "a bad token is refused");
    const unmapped = asError(
      await relay.call("u1", { method: "/parley.billing.v1.BillingService/ListTransactions" }),
    );
    t.match(unmapped, { code: grpc.status.PERMISSION_DENIED }, "the permission map holds");
    const control = asError(await relay.call("u\u0000"));
    t.match(control, { code: grpc.status.INVALID_ARGUMENT }, "control characters are refused");

    const unknown = await relay.call("u1", { method: "/parley.billing.v1.BillingService/Nope" });
    t.equal(unknown.code, grpc.status.UNIMPLEMENTED);
    const oversized = await relay.call("u1", { metadata: { "x-big": "x".repeat(9_000) } });
    t.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED, "metadata is limited as in headers");
    const untextual = await relay.call("u1", { metadata: { "x-api-key": "pk_caf\u00e9" } });
    t.same(
      [untextual.code, untextual.details.includes("caf")],
      [grpc.status.INVALID_ARGUMENT, false],
      "metadata gRPC cannot carry is refused as the caller's mistake, its value not echoed",
    );
  },
);

t.test(
  "calls on one stream are answered as each finishes; a deadline answers DEADLINE_EXCEEDED",
  async (t) => {
    const { address } = await startWalletServer(t);
    const relay = relayTo(t, address);
    const order: string[] = [];
    const slow = relay.call("slow").then(() => order.push("slow"));
    const quick = relay.call("u1").then(() => order.push("quick"));
    await Promise.all([slow, quick]);
    t.same(order, ["quick", "slow"], "a slow call does not hold the others");

    const started = Date.now();
    const expired = await relay.call("until-cancelled", { timeoutMs: 100 });
    t.equal(expired.code, grpc.status.DEADLINE_EXCEEDED);
    t.ok(Date.now() - started < 2_000, "answered at the deadline");
    const after = await relay.call("u1");
    t.equal(after.code, grpc.status.OK, "the stream carries on");
  },
);

t.test("shutdown: calls in flight finish, new ones are unprocessed, the stream ends OK", async (t) => {
  const { server, address } = await startWalletServer(t);
  const relay = relayTo(t, address);
  t.equal((await relay.call("u1")).code, grpc.status.OK);
  const inFlight = relay.call("slow");
  await new Promise((resolve) => setTimeout(resolve, 10));
  const stopped = server.shutdown(5_000);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const late = await relay.call("u1");
  t.equal(late.code, grpc.status.UNAVAILABLE);
  t.equal(late.unprocessed, true, "a call that arrives while shutting down is not started");
  t.equal((await inFlight).code, grpc.status.OK, "the call in flight finishes");
  t.equal((await relay.ended).code, grpc.status.OK, "then the stream ends cleanly");
  await stopped;
});
