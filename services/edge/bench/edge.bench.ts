// `pnpm bench:edge`: the same unary RPC (user.GetMe with a signed-in person's token) three
// ways in one run: (a) straight over gRPC with the kit client, (b) through the edge over HTTP
// (token check, transcoding, the gRPC hop), (c) a bare Fastify route returning the same JSON.
// Requests/s and p50/p99 for each, and the ratios b/a and b/c. The whole platform runs as
// processes on a throwaway database (DATABASE_URL, or embedded Postgres); the edge's rate
// limit is lifted for the run. BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 64).
import { createServiceClient } from "@parley/kit/grpc";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { createBenchDatabase, generateSecrets, launchPlatform } from "@parley/testing";
import autocannon from "autocannon";
import Fastify from "fastify";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
}

const database = await createBenchDatabase();
const platform = await launchPlatform({
  databaseUrl: database.url,
  secrets: generateSecrets(),
  env: {
    edge: { RATE_LIMIT_PER_MINUTE: "1000000000" },
  },
});

try {
  const registered = await fetch(`${platform.httpUrl}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      email: "bench@example.com",
      password: "a bench passphrase 42",
      display_name: "Bench",
    }),
  }).then((r) => r.json() as Promise<{ tokens: { access_token: string } }>);
  const token = registered.tokens.access_token;
  const meJson = await fetch(`${platform.httpUrl}/v1/me`, {
    headers: { authorization: `Bearer ${token}` },
  }).then((r) => r.text());

  const http = async (url: string): Promise<Figures> => {
    await autocannon({
      url,
      connections: CONNECTIONS,
      duration: 2,
      headers: { authorization: `Bearer ${token}` },
    });
    const result = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: SECONDS,
      headers: { authorization: `Bearer ${token}` },
    });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return { perSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
  };

  const grpc = async (): Promise<Figures> => {
    const client = createServiceClient(UserServiceService, { address: platform.grpc.user });
    const run = async (seconds: number) => {
      const latencies: number[] = [];
      const deadline = performance.now() + seconds * 1000;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (performance.now() < deadline) {
            const t0 = performance.now();
            await client.getMe({}, { bearerToken: token });
            latencies.push(performance.now() - t0);
          }
        }),
      );
      latencies.sort((a, b) => a - b);
      return {
        perSecond: latencies.length / ((performance.now() - started) / 1000),
        p50: latencies[Math.floor(latencies.length * 0.5)]!,
        p99: latencies[Math.floor(latencies.length * 0.99)]!,
      };
    };
    await run(2);
    const figures = await run(SECONDS);
    client.close();
    return figures;
  };

  const bare = Fastify();
  bare.get("/v1/me", async (_request, reply) => reply.type("application/json").send(meJson));
  await bare.listen({ port: 0, host: "127.0.0.1" });
  const bareAddress = bare.server.address() as { port: number };

  const a = await grpc();
  const b = await http(`${platform.httpUrl}/v1/me`);
  const c = await http(`http://127.0.0.1:${bareAddress.port}/v1/me`);
  await bare.close();

  const row = (name: string, f: Figures) =>
    `${name.padEnd(40)} ${f.perSecond.toFixed(0).padStart(8)} req/s   p50 ${f.p50.toFixed(2).padStart(6)} ms   p99 ${f.p99.toFixed(2).padStart(6)} ms`;
  console.log(`edge benchmark: GetMe, ${CONNECTIONS} concurrent, ${SECONDS}s each, node ${process.version}`);
  console.log(row("(a) gRPC direct (kit client)", a));
  console.log(row("(b) HTTP through the edge", b));
  console.log(row("(c) bare Fastify, same JSON", c));
  console.log(`b/a throughput ${(b.perSecond / a.perSecond).toFixed(2)}, p50 ${(b.p50 / a.p50).toFixed(2)}x`);
  console.log(`b/c throughput ${(b.perSecond / c.perSecond).toFixed(2)}, p50 ${(b.p50 / c.p50).toFixed(2)}x`);
} finally {
  await platform.stop();
  await database.drop();
}
