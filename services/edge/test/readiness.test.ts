import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import t from "tap";
import { startLoneEdge } from "./alone";

// Probes are not rate limited, and each readiness answer asks every service: a flood of them
// must not become a flood of health checks.
t.test("readiness: concurrent probes share one health check of each service, kept a second", async (t) => {
  let checks = 0;
  let status = "SERVING";
  const server = new grpc.Server();
  server.addService(healthService, {
    check: (_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) => {
      checks += 1;
      callback(null, { status });
    },
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  t.teardown(() => server.forceShutdown());
  const { url } = await startLoneEdge(t, { AUTH_ADDRESS: `127.0.0.1:${port}` });
  const probe = async () => {
    const response = await fetch(`${url}/readyz`);
    return {
      status: response.status,
      body: (await response.json()) as { upstream: Record<string, boolean> },
    };
  };

  const burstAt = Date.now();
  const answers = await Promise.all(Array.from({ length: 50 }, probe));
  const burstMs = Date.now() - burstAt;
  t.ok(
    answers.every((a) => a.status === 503 && a.body.upstream.auth === true && a.body.upstream.user === false),
    "every probe is told auth is serving and the other (unreachable) services are not",
  );
  t.ok(
    checks >= 1 && checks <= Math.floor(burstMs / 1000) + 1,
    `50 probes at once over ${burstMs} ms: auth asked ${checks} times, at most once a second`,
  );

  // A second on, the next probe asks again, and sees the change.
  status = "NOT_SERVING";
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const before = checks;
  const askedAt = Date.now();
  t.equal((await probe()).body.upstream.auth, false, "a second later, auth is asked again");
  t.equal(checks, before + 1, "once");
  status = "SERVING";
  const soon = await probe();
  if (Date.now() - askedAt < 900) {
    t.equal(soon.body.upstream.auth, false, "within the second, the kept answer");
    t.equal(checks, before + 1, "without asking");
  } else t.comment("the machine was too slow to probe again within the second: not asserted");
});
