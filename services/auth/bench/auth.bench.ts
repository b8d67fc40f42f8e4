// `pnpm bench:auth`: access-token verification per second in-process (the kit verifier every
// service and the edge use, with its token cache bypassed and hit), beside a bare HMAC-SHA256
// of the same payload in the same run; then logins per second through the real gRPC server
// (argon2id 19 MiB, t=2, p=1). DATABASE_URL, or embedded Postgres. BENCH_SECONDS (default 3),
// BENCH_LOGIN_CONCURRENCY (default 4). Ends with one JSON line {"bench":"auth",…}.
import { createHmac, randomBytes } from "node:crypto";
import { createTokenVerifier, signAccessToken } from "@parley/kit/auth";
import { parseNetworkList } from "@parley/kit/config";
import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { createGrpcServer, createServiceClient } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { createBenchDatabase } from "@parley/testing";
import { exportJWK, generateKeyPair } from "jose";
import { ARGON2_PARAMETERS } from "../src/domain/hashing-thread";
import { DEFAULT_POLICY } from "../src/domain/policy";
import { createPostgresAttemptLimiter } from "../src/persistence/attempts";
import { AUTH_MIGRATIONS, createAuthService, localIdentity } from "../src/server";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LOGIN_CONCURRENCY = Number(process.env.BENCH_LOGIN_CONCURRENCY ?? 4);
const IN_FLIGHT = 64;

/** Runs `op` with `concurrency` loops for SECONDS and returns operations per second. */
async function throughput(
  concurrency: number,
  op: (i: number) => Promise<unknown> | unknown,
): Promise<number> {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await op(done);
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

// --- verification -------------------------------------------------------------------------
const issuer = "https://auth.parley.bench";
const audience = "parley";
const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" }] };
const claims = {
  sub: "01a21111-0000-7000-8000-000000000000",
  role: "user" as const,
  sid: "s",
  acr: "aal1" as const,
};
const tokens = await Promise.all(
  Array.from({ length: 20_000 }, () =>
    signAccessToken({ key: privateKey, kid: "bench", issuer, audience, ttlSeconds: 900, claims }),
  ),
);
const uncached = createTokenVerifier({ issuer, audience, fetchJwks: async () => jwks, cacheSize: 1 });
const cached = createTokenVerifier({ issuer, audience, fetchJwks: async () => jwks });
await cached.verify(tokens[0]!);
const hmacKey = randomBytes(32);
const signingInput = tokens[0]!.split(".").slice(0, 2).join(".");

const verifyRate = await throughput(IN_FLIGHT, (i) => uncached.verify(tokens[i % tokens.length]!));
const cachedRate = await throughput(IN_FLIGHT, () => cached.verify(tokens[0]!));
const hmacRate = await throughput(1, () => createHmac("sha256", hmacKey).update(signingInput).digest());

// --- logins -----------------------------------------------------------------------------------
const bench = await createBenchDatabase();
const url = bench.url;
await migrateDatabase(url, AUTH_MIGRATIONS);
const database = createDatabase(url, { max: 20 });
const { domain, binding } = createAuthService({
  sql: database.sql,
  limiter: createPostgresAttemptLimiter(database.sql),
  syncedUsers: { lookup: async () => undefined },
  policy: { ...DEFAULT_POLICY, accountAttemptLimit: 1_000_000, ipAttemptLimit: 1_000_000 },
  signingKeySecret: randomBytes(32).toString("hex"),
  serviceCredentials: new Map(),
  issuer,
  audience,
  keyActivationDelaySeconds: 0,
  keyRotationDays: 30,
  trustedPeers: parseNetworkList("127.0.0.0/8,::1/128"),
});
await domain.keys.maintain();
const server = createGrpcServer({
  name: "auth",
  log: createLogger({ service: "auth", level: "silent" }),
  services: [binding],
  authenticate: localIdentity(domain, issuer, audience).authenticate,
});
const port = await server.listen("127.0.0.1:0");
const client = createServiceClient(AuthServiceService, {
  address: `127.0.0.1:${port}`,
  defaultDeadlineMs: 30_000,
});
const password = "a bench passphrase 42";
const emails = Array.from({ length: LOGIN_CONCURRENCY }, (_, i) => `bench-${i}@example.com`);
for (const email of emails)
  await client.register({ email, phone: "", password, displayName: "", deviceName: "bench" });
const loginRate = await throughput(LOGIN_CONCURRENCY, (i) =>
  client.login({ identifier: emails[i % emails.length]!, password, deviceName: "bench" }),
);

client.close();
await server.shutdown(1_000);
await database.close();
await bench.drop();

const row = (name: string, perSecond: number, note = "") =>
  `${name.padEnd(44)} ${perSecond.toFixed(0).padStart(10)} /s  ${note}`;
console.log(`auth benchmark: ${SECONDS}s per figure, node ${process.version}`);
console.log(
  row(
    `ES256 verify, kit verifier, uncached (${IN_FLIGHT} in flight)`,
    verifyRate,
    `${(1e6 / verifyRate).toFixed(1)} µs each`,
  ),
);
console.log(row(`ES256 verify, kit verifier, cache hit (${IN_FLIGHT} in flight)`, cachedRate));
console.log(row("HMAC-SHA256 of the same payload (baseline)", hmacRate));
console.log(
  `verify cost ÷ HMAC cost: ${(hmacRate / verifyRate).toFixed(1)}× uncached, ${(hmacRate / cachedRate).toFixed(1)}× cached`,
);
console.log(
  row(
    `logins over gRPC (${LOGIN_CONCURRENCY} concurrent)`,
    loginRate,
    `argon2id m=${ARGON2_PARAMETERS.memoryCost} KiB t=${ARGON2_PARAMETERS.timeCost} p=${ARGON2_PARAMETERS.parallelism}`,
  ),
);
console.log(
  JSON.stringify({
    bench: "auth",
    verify_per_s: Math.round(verifyRate),
    verify_cached_per_s: Math.round(cachedRate),
    hmac_per_s: Math.round(hmacRate),
    verify_cost_vs_hmac: Number((hmacRate / verifyRate).toFixed(1)),
    cached_cost_vs_hmac: Number((hmacRate / cachedRate).toFixed(1)),
    logins_per_s: Number(loginRate.toFixed(1)),
    login_concurrency: LOGIN_CONCURRENCY,
    argon2_memory_kib: ARGON2_PARAMETERS.memoryCost,
    argon2_passes: ARGON2_PARAMETERS.timeCost,
    seconds: SECONDS,
    node: process.version,
  }),
);
