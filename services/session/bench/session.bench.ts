// `pnpm bench:session`: (a) message send → receive latency with 1, 100 and 1,000 watchers;
// (b) one metering tick over 10,000 active sessions against the real billing service,
// beside billing's raw Charge rate from the same run. Uses DATABASE_URL, or an embedded
// Postgres under .data/bench-postgres when unset.
import path from "node:path";
import { createAuthenticator } from "@parley/kit/auth";
import { createBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase, startEmbeddedPostgres } from "@parley/kit/db";
import { createGrpcServer, createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { MessageKind, SessionKind, SessionServiceService } from "@parley/proto/parley/session/v1/session";
import { createTestIssuer, launchService, REPO_ROOT } from "@parley/testing";
import postgres from "postgres";
import { billingPort, createBillingClient } from "../src/clients/billing";
import type { ExpertDirectory } from "../src/domain/ports";
import { DEFAULT_RULES } from "../src/domain/sessions";
import { createSessionService, SESSION_MIGRATIONS } from "../src/server";

const RATE = 1_000n;
const METERED_SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
const CONCURRENCY = 200;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
let serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  embedded = await startEmbeddedPostgres({
    dataDir: path.join(REPO_ROOT, ".data/bench-postgres"),
    durable: false,
  });
  serverUrl = embedded.url;
}
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
const databaseUrl = async (name: string) => {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

const issuer = await createTestIssuer();
const billingProcess = await launchService("billing", {
  DATABASE_URL: await databaseUrl("parley_bench_billing"),
  TRUSTED_JWKS: JSON.stringify(issuer.jwks),
  JWT_ISSUER: issuer.issuer,
  JWT_AUDIENCE: issuer.audience,
  DATABASE_POOL_MAX: "40",
});
const serviceToken = await issuer.serviceToken("session");
const billingClient = createBillingClient(billingProcess.address, async () => serviceToken);
const operator = { bearerToken: await issuer.userToken({ role: "operator" }) };
const fund = (userId: string, minutes: bigint) =>
  billingClient.grantCredit(
    { userId, amount: { amountMinor: RATE * minutes, currency: "INR" }, note: "bench", requestId: newId() },
    operator,
  );

const sessionUrl = await databaseUrl("parley_bench_session");
await migrateDatabase(sessionUrl, SESSION_MIGRATIONS);
const database = createDatabase(sessionUrl, { max: 40 });
const log = createLogger({ service: "session", level: "silent" });
const bus = createBus(process.env.REDIS_URL);
const expertId = newId();
const experts: ExpertDirectory = {
  async getExpert(id) {
    return {
      expertId: id,
      chatRateMinor: RATE,
      callRateMinor: RATE,
      currency: "INR",
      maxConcurrentSessions: 1_000_000,
      availability: "available",
    };
  },
  async reportExpertLoad() {},
  async updateRatingSummary() {},
  async reportPresence() {},
};
let now = new Date();
const service = createSessionService({
  sql: database.sql,
  bus,
  billing: billingPort(billingClient),
  experts,
  rules: DEFAULT_RULES,
  log,
  now: () => now,
  heartbeatMs: 60_000,
});
const server = createGrpcServer({
  name: "session",
  log,
  services: [service.binding],
  authenticate: createAuthenticator({ tokens: issuer.verifier }),
});
const port = await server.listen("127.0.0.1:0");
const clients = Array.from({ length: 10 }, () =>
  createServiceClient(SessionServiceService, { address: `127.0.0.1:${port}`, defaultDeadlineMs: 30_000 }),
);
const session = clients[0]!;

// (a) latency: one active chat, N watchers, messages sent one after another.
const user = { userId: newId() };
const userCall = { bearerToken: await issuer.userToken({ userId: user.userId }) };
const expertCall = { bearerToken: await issuer.userToken({ userId: expertId, role: "expert" }) };
await fund(user.userId, 1_000n);
const { session: chat } = await session.requestSession(
  { expertId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
  userCall,
);
await session.acceptSession({ sessionId: chat!.sessionId }, expertCall);
const sessionId = chat!.sessionId;

// Warm-up (JIT, connection pools, prepared statements) before anything is measured.
for (let i = 0; i < 50; i++)
  await session.sendMessage(
    {
      sessionId,
      kind: MessageKind.MESSAGE_KIND_TEXT,
      text: "warm-up",
      attachmentUrl: "",
      attachmentContentType: "",
      clientMsgId: newId(),
    },
    userCall,
  );

console.log(`session bench (bus: ${process.env.REDIS_URL ? "redis" : "in-process"})`);
console.log("(a) message send → receive latency");
for (const watchers of [1, 100, 1_000]) {
  const [{ last_seq: lastSeq }] =
    (await database.sql`select last_seq from sessions.sessions where id = ${sessionId}`) as unknown as [
      { last_seq: bigint },
    ];
  const sentAt = new Map<string, bigint>();
  const latencies: number[] = [];
  let received = 0;
  let notify: (() => void) | undefined;
  const streams = Array.from({ length: watchers }, (_, i) =>
    clients[i % clients.length]!.watchSession({ sessionId, afterSeq: lastSeq }, userCall),
  );
  const readers = streams.map(async (stream) => {
    try {
      for await (const event of stream) {
        if (event.kind?.$case !== "message") continue;
        const started = sentAt.get(event.kind.value.clientMsgId);
        if (started !== undefined) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        received += 1;
        notify?.();
      }
    } catch {
      // cancelled at the end of the round
    }
  });
  // Every watcher is live once a probe message reaches all of them.
  const probe = newId();
  await session.sendMessage(
    {
      sessionId,
      kind: MessageKind.MESSAGE_KIND_TEXT,
      text: "probe",
      attachmentUrl: "",
      attachmentContentType: "",
      clientMsgId: probe,
    },
    userCall,
  );
  const waitFor = async (count: number) => {
    while (received < count)
      await new Promise<void>((resolve) => {
        notify = resolve;
        setTimeout(resolve, 100);
      });
  };
  await waitFor(watchers);
  received = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const clientMsgId = newId();
    sentAt.set(clientMsgId, process.hrtime.bigint());
    await session.sendMessage(
      {
        sessionId,
        kind: MessageKind.MESSAGE_KIND_TEXT,
        text: `m${i}`,
        attachmentUrl: "",
        attachmentContentType: "",
        clientMsgId,
      },
      userCall,
    );
    await waitFor((i + 1) * watchers);
  }
  for (const stream of streams) stream.cancel();
  await Promise.all(readers);
  latencies.sort((a, b) => a - b);
  console.log(
    `  ${String(watchers).padStart(5)} watchers: p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms (${latencies.length} deliveries)`,
  );
}

// (b) one metering tick over METERED_SESSIONS active chats, each with its own funded payer.
console.log(`(b) metering: one tick over ${METERED_SESSIONS} active sessions`);
const payers = Array.from({ length: METERED_SESSIONS }, () => newId());
await inBatches(payers, CONCURRENCY, (payer) => fund(payer, 100n));
const startedAt = now;
const ids = payers.map(() => newId());
for (let i = 0; i < ids.length; i += 1_000) {
  const rows = ids.slice(i, i + 1_000).map((id, j) => ({
    id,
    user_id: payers[i + j]!,
    expert_id: expertId,
    kind: "chat",
    status: "active",
    request_id: id,
    rate_minor: RATE.toString(),
    currency: "INR",
    requested_at: startedAt,
    accepted_at: startedAt,
    started_at: startedAt,
    expires_at: startedAt,
    next_charge_at: startedAt,
  }));
  await database.sql`insert into sessions.sessions ${database.sql(rows)}`;
}
const tickStarted = process.hrtime.bigint();
const report = await service.metering.tick();
const tickSeconds = Number(process.hrtime.bigint() - tickStarted) / 1e9;
const tickRate = report.charged / tickSeconds;
console.log(
  `  tick: ${report.charged} charges in ${tickSeconds.toFixed(2)} s → ${tickRate.toFixed(0)} charges/s`,
);

// Billing alone, same concurrency, same payers: minute 2 of every session, straight to Charge.
const rawStarted = process.hrtime.bigint();
await inBatches(
  ids.map((id, i) => [id, payers[i]!] as const),
  CONCURRENCY,
  ([id, payer]) =>
    billingClient.charge({
      sessionId: id,
      minute: 2n,
      payerUserId: payer,
      payeeUserId: expertId,
      amount: { amountMinor: RATE, currency: "INR" },
      holdId: "",
    }),
);
const rawSeconds = Number(process.hrtime.bigint() - rawStarted) / 1e9;
const rawRate = ids.length / rawSeconds;
console.log(
  `  billing raw Charge: ${ids.length} in ${rawSeconds.toFixed(2)} s → ${rawRate.toFixed(0)} charges/s (concurrency ${CONCURRENCY})`,
);
console.log(`  ratio tick / raw: ${(tickRate / rawRate).toFixed(2)}`);
now = new Date(now.getTime() + 60_000);

for (const client of clients) client.close();
await server.shutdown(1_000);
await bus.close();
await database.close();
billingClient.close();
await billingProcess.stop();
await admin.end();
await embedded?.stop();
