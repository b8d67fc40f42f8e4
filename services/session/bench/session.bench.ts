// `pnpm bench:session`, in one process run, ending with one JSON line:
//   (a) message send → receive latency with 1, 100 and 1,000 watchers;
//   (b) one metering tick over BENCH_SESSIONS (10,000) active sessions spread over 500 experts,
//       through the real billing service (a child process, over gRPC), beside the set-based SQL
//       equivalent of the same minute on the same tables (claim due rows, debit wallets, write
//       transactions, entries and charges, credit earnings, advance the sessions and store their
//       events, in chunks of 1,000, as many in flight as metering), and the same tick with Redis
//       configured but dead; rounds alternate the order, after a warm-up of every side;
//   (c) one tick over BENCH_BIG_SESSIONS (100,000; 0 skips it) active sessions, and its SQL equivalent.
// The live bus is a throwaway `redis-server` (REDIS_URL's, or in-process, where the binary is
// absent); the dead one is a closed port. Uses DATABASE_URL, or an embedded Postgres under
// .data/bench-postgres when unset. BENCH_ONLY=latency|tick runs one part; BENCH_LOG_LEVEL (silent)
// is the session logger's level (warn shows why a chunk failed).
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import path from "node:path";
import { createAuthenticator } from "@parley/kit/auth";
import { type Bus, createBus } from "@parley/kit/bus";
import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { createGrpcServer, createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { MessageKind, SessionKind, SessionServiceService } from "@parley/proto/parley/session/v1/session";
import {
  createTestIssuer,
  freePort,
  launchService,
  REPO_ROOT,
  redisServerMissing,
  startThrowawayRedis,
} from "@parley/testing";
import { percentile } from "@parley/testing/bench";
import { startEmbeddedPostgres } from "@parley/testing/embedded-postgres";
import postgres from "postgres";
import { billingPort, createBillingClient } from "../src/clients/billing";
import type { ExpertDirectory } from "../src/domain/ports";
import { DEFAULT_RULES } from "../src/domain/sessions";
import { createSessionService, SESSION_MIGRATIONS } from "../src/server";

const RATE = 1_000n;
const COMMISSION_BPS = 2_000n;
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const BIG_SESSIONS = Number(process.env.BENCH_BIG_SESSIONS ?? 100_000);
const EXPERTS = Number(process.env.BENCH_EXPERTS ?? 500);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ONLY = process.env.BENCH_ONLY;
/** Metering's defaults: minutes per ChargeBatch, and chunks in flight per instance. */
const CHUNK = 1_000;
const PARALLEL_CHUNKS = 4;
/** Minutes each payer can pay: every round of every side, and then some. */
const FUNDED_MINUTES = 1_000n;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;
const round2 = (value: number) => Number(value.toFixed(2));

const cleanups: Array<() => Promise<void> | void> = [];
// A run that fails still takes its children with it (the throwaway redis-server, billing).
process.once("exit", () => {
  for (const cleanup of cleanups) void cleanup();
});
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

// The live bus: a private redis-server; the dead one: a port nobody listens on.
const missing = redisServerMissing();
const liveRedisUrl = missing
  ? process.env.REDIS_URL
  : (await startThrowawayRedis({ teardown: (cleanup) => cleanups.push(cleanup) })).url;
const deadRedisUrl = `redis://127.0.0.1:${await freePort()}`;
const busName = missing ? (liveRedisUrl ? "REDIS_URL" : "in-process") : "throwaway redis-server";

const issuer = await createTestIssuer();
const billingUrl = await databaseUrl("parley_bench_billing");
const billingProcess = await launchService("billing", {
  DATABASE_URL: billingUrl,
  TRUSTED_JWKS: JSON.stringify(issuer.jwks),
  JWT_ISSUER: issuer.issuer,
  JWT_AUDIENCE: issuer.audience,
  PAGE_TOKEN_SECRET: randomBytes(32).toString("hex"),
  COMMISSION_BPS: COMMISSION_BPS.toString(),
});
cleanups.push(() => {
  billingProcess.process.kill("SIGKILL");
});
const billingSql = postgres(billingUrl, { max: PARALLEL_CHUNKS + 1, onnotice: () => {} });
const serviceToken = await issuer.serviceToken("session");
const billingClient = createBillingClient(billingProcess.address, async () => serviceToken);
const staff = { bearerToken: await issuer.userToken({ role: "admin" }) };

const sessionUrl = await databaseUrl("parley_bench_session");
await migrateDatabase(sessionUrl, SESSION_MIGRATIONS);
const database = createDatabase(sessionUrl, { max: 20 });
const sql = database.sql;
const log = createLogger({ service: "session", level: process.env.BENCH_LOG_LEVEL ?? "silent" });
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
const serviceOver = (bus: Bus) =>
  createSessionService({
    sql,
    bus,
    billing: billingPort(billingClient),
    experts,
    rules: DEFAULT_RULES,
    log,
    now: () => now,
    heartbeatMs: 60_000,
    metering: { chunkSize: CHUNK, parallelChunks: PARALLEL_CHUNKS },
  });
const liveBus = createBus(liveRedisUrl);
const deadBus = createBus(deadRedisUrl);
const live = serviceOver(liveBus);
const dead = serviceOver(deadBus);

const figures: Record<string, number | string> = {};

// (a) latency: one active chat, N watchers, messages sent one after another.
if (ONLY === undefined || ONLY === "latency") {
  const server = createGrpcServer({
    name: "session",
    log,
    services: [live.binding],
    authenticate: createAuthenticator({ tokens: issuer.verifier }),
  });
  const port = await server.listen("127.0.0.1:0");
  const clients = Array.from({ length: 10 }, () =>
    createServiceClient(SessionServiceService, { address: `127.0.0.1:${port}`, defaultDeadlineMs: 30_000 }),
  );
  const session = clients[0]!;
  const expertId = newId();
  const user = { userId: newId() };
  const userCall = { bearerToken: await issuer.userToken({ userId: user.userId }) };
  const expertCall = { bearerToken: await issuer.userToken({ userId: expertId, role: "expert" }) };
  await billingClient.grantCredit(
    {
      userId: user.userId,
      amount: { amountMinor: RATE * 1_000n, currency: "INR" },
      note: "bench",
      requestId: newId(),
    },
    staff,
  );
  const { session: chat } = await session.requestSession(
    { expertId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
    userCall,
  );
  await session.acceptSession({ sessionId: chat!.sessionId }, expertCall);
  const sessionId = chat!.sessionId;
  const send = (text: string, clientMsgId = newId()) =>
    session.sendMessage(
      {
        sessionId,
        kind: MessageKind.MESSAGE_KIND_TEXT,
        text,
        attachmentUrl: "",
        attachmentContentType: "",
        clientMsgId,
      },
      userCall,
    );

  // Warm-up (JIT, connection pools, prepared statements) before anything is measured.
  for (let i = 0; i < 50; i++) await send("warm-up");

  console.log(`session bench (live bus: ${busName})`);
  console.log("(a) message send → receive latency");
  for (const watchers of [1, 100, 1_000]) {
    const [{ last_seq: lastSeq }] =
      (await sql`select last_seq from sessions.sessions where id = ${sessionId}`) as unknown as [
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
    const waitFor = async (count: number) => {
      while (received < count)
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 100);
        });
    };
    // Every watcher is live once a probe message reaches all of them.
    await send("probe");
    await waitFor(watchers);
    received = 0;
    for (let i = 0; i < MESSAGES; i++) {
      const clientMsgId = newId();
      sentAt.set(clientMsgId, process.hrtime.bigint());
      await send(`m${i}`, clientMsgId);
      await waitFor((i + 1) * watchers);
    }
    for (const stream of streams) stream.cancel();
    await Promise.all(readers);
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    figures[`latency_${watchers}_p50_ms`] = round2(p50);
    figures[`latency_${watchers}_p99_ms`] = round2(p99);
    console.log(
      `  ${String(watchers).padStart(5)} watchers: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (${latencies.length} deliveries)`,
    );
  }
  for (const client of clients) client.close();
  await server.shutdown(1_000);
}

// (b), (c): metering ticks.
if (ONLY === undefined || ONLY === "tick") {
  const expertIds = Array.from({ length: EXPERTS }, () => newId());

  /** Platform accounts, and every expert's earnings row, as billing makes them on first use. */
  const seedPlatform = async () => {
    const owners = [
      ...Array.from({ length: 16 }, (_, shard) => ["revenue", `platform:${shard}`]),
      ["promotions", "platform"],
      ...expertIds.map((id) => ["earnings", id]),
    ];
    await billingSql`
      insert into billing.accounts (id, kind, owner_id, currency)
      select gen_random_uuid(), kind, owner_id, 'INR'
      from unnest(${owners.map(([kind]) => kind!)}::text[], ${owners.map(([, owner]) => owner!)}::text[])
        as o(kind, owner_id)
      on conflict (kind, owner_id, currency) do nothing`;
  };

  /**
   * `count` active chats started at `at`, each with its own payer's wallet (funded by one
   * promotion posting per 10,000, as GrantCredit would per wallet), spread over the experts.
   */
  const seedSessions = async (count: number, at: Date) => {
    for (let offset = 0; offset < count; offset += 10_000) {
      const size = Math.min(10_000, count - offset);
      const payers = Array.from({ length: size }, () => newId());
      const funds = RATE * FUNDED_MINUTES;
      await billingSql.begin(async (tx) => {
        const grant = newId();
        await tx`insert into billing.transactions (id, type, currency, reference)
          values (${grant}, 'promotion', 'INR', ${`grant:${grant}`})`;
        await tx`
          with wallets as (
            insert into billing.accounts (id, kind, owner_id, currency, balance)
            select gen_random_uuid(), 'wallet', owner_id, 'INR', ${funds.toString()}::int8
            from unnest(${payers}::text[]) as p(owner_id)
            returning id
          )
          insert into billing.entries (transaction_id, account_id, amount, balance_after)
          select ${grant}::uuid, id, ${funds.toString()}::int8, ${funds.toString()}::int8 from wallets
          union all
          select ${grant}::uuid, a.id, -${(funds * BigInt(size)).toString()}::int8, null
          from billing.accounts a where a.kind = 'promotions' and a.owner_id = 'platform' and a.currency = 'INR'`;
      });
      const rows = payers.map((payer, i) => {
        const id = newId();
        return {
          id,
          user_id: payer,
          expert_id: expertIds[(offset + i) % EXPERTS]!,
          kind: "chat",
          status: "active",
          request_id: id,
          rate_minor: RATE.toString(),
          currency: "INR",
          requested_at: at,
          accepted_at: at,
          started_at: at,
          expires_at: at,
          next_charge_at: at,
          user_online: true,
          expert_online: true,
        };
      });
      for (let i = 0; i < rows.length; i += 1_000)
        await sql`insert into sessions.sessions ${sql(rows.slice(i, i + 1_000))}`;
    }
    await sql`vacuum analyze`;
    await billingSql`vacuum analyze`;
  };

  /** Ends every active session (no settlement: the bench moves on to a fresh set). */
  const endAll = () =>
    sql`update sessions.sessions set status = 'ended', end_reason = 'user_ended', ended_at = ${now},
      next_charge_at = null where status = 'active'`;

  /**
   * The set-based SQL equivalent of one metering pass at `now`: chunks of CHUNK due rows,
   * PARALLEL_CHUNKS in flight, each claimed (committed lease), charged in one billing transaction
   * (wallets locked in id order, debited, transactions, three entries per minute with balances
   * after, charge receipts, earnings credited once per expert by their sum) and recorded (rows
   * advanced, minute_charged events stored). The same tables, indexes and triggers the services use.
   */
  const sqlTick = async (): Promise<number> => {
    const at = now;
    const leaseUntil = new Date(at.getTime() + DEFAULT_RULES.leaseSeconds * 1000);
    let charged = 0;
    let more = true;
    const pipeline = async () => {
      while (more) {
        const claimed = await sql`
          with picked as (
            select id from sessions.sessions
            where status = 'active' and next_charge_at <= ${at} and lease_until is null and paused_at is null
            order by next_charge_at limit ${CHUNK} for update skip locked
          )
          update sessions.sessions s set lease_epoch = s.lease_epoch + 1, lease_until = ${leaseUntil}
          from picked where s.id = picked.id
          returning s.id, s.user_id, s.expert_id, s.rate_minor, s.minutes_charged + 1 as minute, s.lease_epoch`;
        if (claimed.length < CHUNK) more = false;
        if (claimed.length === 0) return;
        const ids = claimed.map((row) => row.id as string);
        const paid = await billingSql.begin(async (tx) => {
          await tx`select id from billing.accounts where kind = 'wallet' and currency = 'INR'
            and owner_id = any(${claimed.map((row) => row.user_id as string)}::text[]) order by id for update`;
          return tx`
            with v as (
              select * from unnest(${ids}::text[], ${claimed.map((row) => String(row.minute))}::int8[],
                ${claimed.map((row) => row.user_id as string)}::text[], ${claimed.map((row) => row.expert_id as string)}::text[],
                ${claimed.map((row) => String(row.rate_minor))}::int8[])
                with ordinality as v(session_id, minute, payer, payee, amount, ord)
            ), debited as (
              update billing.accounts a set balance = a.balance - v.amount
              from v
              where a.kind = 'wallet' and a.owner_id = v.payer and a.currency = 'INR' and a.balance - a.held >= v.amount
              returning a.id as account_id, a.balance, v.*, gen_random_uuid() as tx_id,
                v.amount * ${COMMISSION_BPS.toString()}::int8 / 10000 as commission
            ), journal as (
              insert into billing.transactions (id, type, currency, reference, created_at)
              select tx_id, 'session_charge', 'INR', 'session:' || session_id, ${at} from debited
            ), locked as materialized (
              -- Earnings rows in payee order, as billing takes them (chunks in flight share experts).
              select a.id, a.owner_id from billing.accounts a
              where a.kind = 'earnings' and a.currency = 'INR' and a.owner_id in (select payee from debited)
              order by a.owner_id for update
            ), earned as (
              update billing.accounts a set balance = a.balance + e.total
              from (select payee, sum(amount - commission) as total from debited group by payee) e, locked l
              where a.id = l.id and l.owner_id = e.payee
              returning a.id, a.owner_id, a.balance
            ), shards as (
              select array_agg(id) as ids from billing.accounts where kind = 'revenue' and currency = 'INR'
            ), lines as (
              select d.tx_id, d.account_id, -d.amount as amount, d.balance as balance_after from debited d
              union all
              select d.tx_id, e.id, d.amount - d.commission,
                e.balance - coalesce(sum(d.amount - d.commission) over (partition by d.payee order by d.ord desc
                  rows between unbounded preceding and 1 preceding), 0)
              from debited d join earned e on e.owner_id = d.payee
              union all
              select d.tx_id, s.ids[(1 + d.ord % array_length(s.ids, 1))::int], d.commission, null from debited d, shards s
            ), entries as (
              insert into billing.entries (transaction_id, account_id, amount, balance_after, created_at)
              select tx_id, account_id, amount, balance_after, ${at} from lines
            ), receipts as (
              insert into billing.charges (transaction_id, session_id, minute, payer_user_id, payee_user_id, currency,
                amount, commission, created_at, request_hash, balance_after, available_after, hold_remaining_after)
              select tx_id, session_id, minute, payer, payee, 'INR', amount, commission, ${at}, 'bench',
                balance, balance, 0 from debited
            )
            select session_id as id, minute, balance / amount as minutes_left from debited`;
        });
        await sql`
          with v as (
            select * from unnest(${paid.map((row) => row.id as string)}::uuid[], ${paid.map((row) => Number(row.minute))}::int[],
              ${paid.map((row) => String(row.minutes_left))}::int8[]) as v(id, minute, minutes_left)
          ), moved as (
            update sessions.sessions s set minutes_charged = v.minute, minutes_left = v.minutes_left,
              next_charge_at = s.next_charge_at + make_interval(secs => ${DEFAULT_RULES.minuteSeconds}),
              lease_until = null, last_seq = s.last_seq + 1
            from v where s.id = v.id and s.status = 'active' and s.minutes_charged = v.minute - 1
            returning s.id, s.last_seq, v.minute, v.minutes_left
          )
          insert into sessions.session_events (session_id, seq, occurred_at, body)
          select id, last_seq, ${at}, jsonb_build_object('type', 'minute_charged', 'minute', minute,
            'amountMinor', jsonb_build_object('$bigint', ${RATE.toString()}::text), 'currency', 'INR',
            'minutesLeft', jsonb_build_object('$bigint', minutes_left::text))
          from moved`;
        charged += paid.length;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_CHUNKS }, pipeline));
    return charged;
  };

  type Side = "live" | "dead" | "sql";
  /** One minute of every session by one side; the clock then moves a minute on. */
  const minute = async (side: Side, expected: number): Promise<number> => {
    const started = process.hrtime.bigint();
    const charged =
      side === "sql" ? await sqlTick() : (await (side === "live" ? live : dead).metering.tick()).charged;
    const took = seconds(started);
    if (charged !== expected) throw new Error(`${side} charged ${charged} of ${expected} minutes`);
    now = new Date(now.getTime() + DEFAULT_RULES.minuteSeconds * 1000);
    return took;
  };

  console.log(
    `(b) metering: one tick over ${SESSIONS} active sessions, ${EXPERTS} experts (live bus: ${busName}; dead: a closed port)`,
  );
  await seedPlatform();
  await endAll(); // the latency run's chat
  // Warm-up of every side on a small set (JIT, pools, prepared statements, Redis connections).
  await seedSessions(Math.min(SESSIONS, 2_000), now);
  for (const side of ["live", "dead", "sql"] as const) await minute(side, Math.min(SESSIONS, 2_000));
  await endAll();
  await seedSessions(SESSIONS, now);
  const times: Record<Side, number[]> = { live: [], dead: [], sql: [] };
  const orders: Side[][] = [
    ["live", "sql", "dead"],
    ["dead", "sql", "live"],
    ["sql", "live", "dead"],
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of orders[round % orders.length]!) {
      const took = await minute(side, SESSIONS);
      times[side].push(took);
      console.log(
        `  round ${round + 1}, ${side.padEnd(4)}: ${took.toFixed(2)} s (${(SESSIONS / took).toFixed(0)} minutes/s)`,
      );
    }
  }
  const tick = median(times.live);
  const tickDead = median(times.dead);
  const sqlSeconds = median(times.sql);
  console.log(
    `  medians: tick ${tick.toFixed(2)} s, tick with Redis dead ${tickDead.toFixed(2)} s (${((tickDead / tick - 1) * 100).toFixed(0)} %), SQL ${sqlSeconds.toFixed(2)} s; tick vs SQL ${(sqlSeconds / tick).toFixed(2)}`,
  );
  Object.assign(figures, {
    tick_10k_s: round2(tick),
    tick_redis_down_s: round2(tickDead),
    sql_10k_s: round2(sqlSeconds),
    tick_vs_sql: round2(sqlSeconds / tick),
    redis_down_vs_live: round2(tickDead / tick),
  });

  if (BIG_SESSIONS > 0) {
    console.log(`(c) metering: one tick over ${BIG_SESSIONS} active sessions, ${EXPERTS} experts`);
    await endAll();
    await seedSessions(BIG_SESSIONS, now);
    const big = await minute("live", BIG_SESSIONS);
    console.log(`  tick: ${big.toFixed(2)} s (${(BIG_SESSIONS / big).toFixed(0)} minutes/s)`);
    const bigSql = await minute("sql", BIG_SESSIONS);
    console.log(`  SQL:  ${bigSql.toFixed(2)} s (${(BIG_SESSIONS / bigSql).toFixed(0)} minutes/s)`);
    Object.assign(figures, {
      tick_100k_s: round2(big),
      sql_100k_s: round2(bigSql),
      tick_100k_vs_sql: round2(bigSql / big),
    });
  }

  const [ledger] = await billingSql<{ unbalanced: bigint; negative: bigint }[]>`
    select (select count(*) from (select transaction_id from billing.entries group by transaction_id
              having sum(amount) <> 0) t) as unbalanced,
           (select count(*) from billing.accounts where kind in ('wallet', 'earnings') and balance < 0) as negative`;
  console.log(
    `  ledger check: ${ledger!.unbalanced} unbalanced transactions, ${ledger!.negative} negative balances`,
  );
  Object.assign(figures, {
    sessions: SESSIONS,
    big_sessions: BIG_SESSIONS,
    experts: EXPERTS,
    rounds: ROUNDS,
    unbalanced: Number(ledger!.unbalanced),
  });
}

console.log(JSON.stringify({ bench: "session", ...figures, bus: busName, cores: availableParallelism() }));

await liveBus.close();
await deadBus.close();
await database.close();
billingClient.close();
await billingSql.end();
await billingProcess.stop();
for (const cleanup of cleanups) await cleanup();
await admin.end();
await embedded?.stop();
