// pnpm bench:notify — a popular expert with BENCH_FANS (10,000) favourites comes online: how long
// until every "favourite online" notification is stored, and until each of the BENCH_WATCHERS
// (1,000) fans holding an open WatchMe stream has it. BENCH_ROUNDS spells (3). Real Postgres
// (DATABASE_URL or embedded), Redis bus when REDIS_URL is set (in-process otherwise), the user
// service over gRPC on a local port. Ends with one JSON line {"bench":"notify",…}.
import { createAuthenticator } from "@parley/kit/auth";
import { createBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { createGrpcServer, createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { NotificationKind, UserServiceService } from "@parley/proto/parley/user/v1/user";
import { createBenchDatabase, createTestIssuer, percentile } from "@parley/testing";
import { createInProcessPresence } from "../src/persistence/presence";
import { createUserService, USER_MIGRATIONS } from "../src/server";

const FANS = Number(process.env.BENCH_FANS ?? 10_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Streams per gRPC connection (HTTP/2 multiplexes them). */
const STREAMS_PER_CLIENT = 100;

const round1 = (n: number) => Math.round(n * 10) / 10;
const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: round1(percentile(sorted, 0.5)),
    p99: round1(percentile(sorted, 0.99)),
    max: round1(sorted.at(-1) ?? Number.NaN),
  };
};

const bench = await createBenchDatabase();
const log = createLogger({ service: "user", level: "silent" });
try {
  await migrateDatabase(bench.url, USER_MIGRATIONS);
  const database = createDatabase(bench.url, { max: 20 });
  const { sql } = database;
  const bus = createBus(process.env.REDIS_URL, { log });
  const presence = createInProcessPresence(3600, () => new Date());
  const service = createUserService({
    sql,
    presence,
    bus,
    log,
    favouriteOnlineIntervalSeconds: 1,
    watch: { heartbeatMs: 15_000, pollMs: 1_000, checkMs: 10_000 },
  });
  const issuer = await createTestIssuer();
  const server = createGrpcServer({
    name: "user",
    log,
    services: [service.binding],
    authenticate: createAuthenticator({ tokens: issuer.verifier }),
  });
  const port = await server.listen("127.0.0.1:0");
  const address = `127.0.0.1:${port}`;

  // The expert, and FANS people who favour them (profiles with names and locales).
  const expertId = newId();
  const fans = Array.from({ length: FANS }, () => newId());
  const seeded = performance.now();
  await sql`insert into users.profiles (user_id, display_name, preferences)
    select unnest(${[expertId, ...fans]}::uuid[]), 'Bench person', '{"locale":"en-IN","timeZone":"","emailNotifications":true,"pushNotifications":true}'::jsonb`;
  await sql`insert into users.experts (user_id, currency, chat_rate_minor, call_rate_minor, max_concurrent_sessions,
      specialisations, languages, experience_years, availability)
    values (${expertId}, 'INR', 1000, 1500, 3, '{vedic}', '{en}', 10, 'available')`;
  await sql`insert into users.favourites (user_id, expert_id) select unnest(${fans}::uuid[]), ${expertId}`;
  await sql`analyze users.favourites`;
  const seedMs = performance.now() - seeded;

  // WATCHERS fans hold WatchMe streams, as themselves.
  const clients = Array.from({ length: Math.ceil(WATCHERS / STREAMS_PER_CLIENT) }, () =>
    createServiceClient(UserServiceService, { address }),
  );
  const arrivals = new Map<string, number>();
  let waiting = 0;
  let onArrival: (() => void) | undefined;
  const streams = await Promise.all(
    fans.slice(0, WATCHERS).map(async (userId, i) => {
      const stream = clients[Math.floor(i / STREAMS_PER_CLIENT)]!.watchMe(
        { afterSeq: 0n },
        { bearerToken: await issuer.userToken({ userId }) },
      );
      void (async () => {
        try {
          for await (const message of stream) {
            if (message.notification?.kind !== NotificationKind.NOTIFICATION_KIND_FAVOURITE_ONLINE) continue;
            arrivals.set(`${userId}:${message.notification.seq}`, performance.now());
            waiting -= 1;
            if (waiting === 0) onArrival?.();
          }
        } catch {
          // cancelled at the end
        }
      })();
      return stream;
    }),
  );
  // Streams are subscribed once their (empty) replay is done; give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  const edge = { bearerToken: await issuer.serviceToken("edge") };
  const control = createServiceClient(UserServiceService, { address });
  const stored: number[] = [];
  const delivered: number[] = [];
  const lastDelivered: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await control.reportPresence({ userId: expertId, online: false }, edge);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the interval: a new spell tells everyone
    arrivals.clear();
    waiting = WATCHERS;
    const allArrived = new Promise<void>((resolve) => {
      onArrival = resolve;
    });
    const started = performance.now();
    await control.reportPresence({ userId: expertId, online: true }, edge);
    for (;;) {
      const [row] = await sql`select count(*)::int as n from users.notifications
        where kind = 'favourite_online' and event_id like ${`favourite_online:${expertId}:%`}`;
      if ((row!.n as number) >= FANS * round) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    stored.push(performance.now() - started);
    await Promise.race([allArrived, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    const times = [...arrivals.values()].map((at) => at - started);
    delivered.push(...times);
    lastDelivered.push(Math.max(...times));
    console.log(
      `round ${round}: ${FANS} stored in ${round1(stored.at(-1)!)} ms; ${times.length}/${WATCHERS} watchers had it, p50 ${round1(stats(times).p50)} ms, last ${round1(Math.max(...times))} ms`,
    );
  }

  for (const stream of streams) stream.cancel();
  for (const client of clients) client.close();
  control.close();
  await server.shutdown(1_000);
  await service.close();
  await bus.close();
  await database.close();
  console.log(
    JSON.stringify({
      bench: "notify",
      fans: FANS,
      watchers: WATCHERS,
      rounds: ROUNDS,
      bus: process.env.REDIS_URL ? "redis" : "in-process",
      seed_ms: round1(seedMs),
      all_stored_ms: stats(stored),
      delivery_ms: stats(delivered),
      last_delivery_ms: stats(lastDelivered),
    }),
  );
} finally {
  await bench.drop();
}
