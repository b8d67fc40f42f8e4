// `pnpm bench:user`: ListExperts over 100,000 experts (BENCH_EXPERTS), three searches, each as a
// gRPC call, as the domain call without gRPC, and as the raw SQL of the same page (the baseline),
// BENCH_ITERATIONS runs each after a warm-up: p50 and p99, and their ratios to the SQL. DATABASE_URL,
// or an embedded Postgres. Ends with one JSON line {"bench":"user",…}.
import { createAuthenticator } from "@parley/kit/auth";
import { createDatabase, migrateDatabase } from "@parley/kit/db";
import { createGrpcServer, createServiceClient } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import { createPaging } from "@parley/kit/paging";
import {
  ExpertAvailability,
  ExpertSort,
  type ListExpertsRequest,
  RateKind,
  UserServiceService,
} from "@parley/proto/parley/user/v1/user";
import { createBenchDatabase, createTestIssuer, percentile } from "@parley/testing";
import { expertQuery } from "../src/grpc/mapping";
import { createInProcessPresence } from "../src/persistence/presence";
import { createUserService, USER_MIGRATIONS } from "../src/server";

const EXPERTS = Number(process.env.BENCH_EXPERTS ?? 100_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 30;
const PAGE = 20;

const bench = await createBenchDatabase();
const url = bench.url;

const request = (overrides: Partial<ListExpertsRequest>): ListExpertsRequest => ({
  specialisation: "",
  language: "",
  availability: ExpertAvailability.EXPERT_AVAILABILITY_UNSPECIFIED,
  rateKind: RateKind.RATE_KIND_CHAT,
  minRate: undefined,
  maxRate: undefined,
  minRating: 0,
  sort: ExpertSort.EXPERT_SORT_UNSPECIFIED,
  pageSize: PAGE,
  pageToken: "",
  ...overrides,
});

async function measure(run: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

try {
  await migrateDatabase(url, USER_MIGRATIONS);
  const database = createDatabase(url, { max: 10 });
  const sql = database.sql;
  const seedStarted = performance.now();
  // Specialisations, languages, rates, experience and ratings spread like a real catalogue:
  // a handful of common specialisations, two or three languages each, skewed ratings.
  await sql.unsafe(`
    create table public.bench_seed as
    select gen_random_uuid() as id, n, (100 + random() * 4900)::int8 as chat, (random() * 200)::int as ratings
    from generate_series(1, ${EXPERTS}) as n`);
  await sql.unsafe(`
    insert into users.profiles (user_id, display_name, preferences)
    select id, 'Expert ' || n, '{"locale":"","timeZone":"","emailNotifications":true,"pushNotifications":true}'
    from public.bench_seed`);
  await sql.unsafe(`
    insert into users.experts (user_id, currency, chat_rate_minor, call_rate_minor, max_concurrent_sessions,
      specialisations, languages, experience_years, availability, active_sessions, rating_sum, rating_count)
    select id, 'INR', chat, chat + 500, 1 + (random() * 3)::int,
      array[(array['vedic','tarot','numerology','palmistry','vastu','kp','lal-kitab','psychic'])[1 + (random() * 7)::int],
            (array['vedic','tarot','numerology','palmistry','vastu','kp','lal-kitab','psychic'])[1 + (random() * 7)::int]],
      array['en', (array['hi','ta','te','bn','mr','kn'])[1 + (random() * 5)::int]],
      (random() * 40)::int,
      (array['available','unavailable','offline'])[1 + (random() * 2)::int],
      0, ratings * (3 + (random() * 2)::int), ratings
    from public.bench_seed`);
  await sql`analyze users.experts`;
  await sql`analyze users.profiles`;
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  const presence = createInProcessPresence(3600, () => new Date());
  for (const row of await sql`select user_id from users.experts where availability = 'available'`)
    await presence.heartbeat(row.user_id as string);
  const issuer = await createTestIssuer();
  const { binding, users } = createUserService({
    sql,
    presence,
    log: createLogger({ service: "user", level: "silent" }),
  });
  const server = createGrpcServer({
    name: "user",
    log: createLogger({ service: "user", level: "silent" }),
    services: [binding],
    authenticate: createAuthenticator({ tokens: issuer.verifier }),
  });
  const port = await server.listen("127.0.0.1:0");
  const client = createServiceClient(UserServiceService, { address: `127.0.0.1:${port}` });
  const caller = { bearerToken: await issuer.userToken() };

  const columns = sql`e.user_id, p.display_name, p.avatar_url, e.currency, e.chat_rate_minor, e.call_rate_minor,
    e.max_concurrent_sessions, e.specialisations, e.languages, e.experience_years, e.bio, e.availability,
    e.active_sessions, e.rating_average, e.rating_count, e.updated_at`;
  const searches = [
    {
      key: "tarot_by_rating",
      name: "specialisation=tarot, by rating",
      rpc: request({ specialisation: "tarot", sort: ExpertSort.EXPERT_SORT_RATING_DESC }),
      raw: () => sql`select ${columns} from users.experts e join users.profiles p on p.user_id = e.user_id
        where e.specialisations @> array['tarot']
        order by e.rating_average desc, e.rating_count desc, e.user_id desc limit ${PAGE + 1}`,
    },
    {
      key: "hindi_rate_range",
      name: "language=hi, chat 5.00-15.00 INR, by rate",
      rpc: request({
        language: "hi",
        minRate: { amountMinor: 500n, currency: "INR" },
        maxRate: { amountMinor: 1500n, currency: "INR" },
        sort: ExpertSort.EXPERT_SORT_RATE_ASC,
      }),
      raw: () => sql`select ${columns} from users.experts e join users.profiles p on p.user_id = e.user_id
        where e.languages @> array['hi'] and e.currency = 'INR' and e.chat_rate_minor between 500 and 1500
        order by e.chat_rate_minor, e.user_id limit ${PAGE + 1}`,
    },
    {
      key: "vedic_available_now",
      name: "vedic + available now + rating>=4, by experience",
      rpc: request({
        specialisation: "vedic",
        availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
        minRating: 4,
        sort: ExpertSort.EXPERT_SORT_EXPERIENCE_DESC,
      }),
      // The baseline has no presence lookup: it is the SQL half of the same search.
      raw: () => sql`select ${columns} from users.experts e join users.profiles p on p.user_id = e.user_id
        where e.specialisations @> array['vedic'] and e.rating_average >= 4 and e.availability = 'available'
          and e.active_sessions < e.max_concurrent_sessions
        order by e.experience_years desc, e.user_id desc limit ${PAGE + 1}`,
    },
  ];

  console.log(
    `seeded ${EXPERTS} experts in ${seedSeconds.toFixed(1)} s; ${ITERATIONS} runs each, page ${PAGE}`,
  );
  console.log(
    "search | ListExperts over gRPC p50 / p99 ms | domain call (no gRPC) p50 / p99 ms | raw SQL p50 / p99 ms | gRPC÷SQL p50 / p99 | domain÷SQL p50 / p99",
  );
  const figures: Record<string, number> = {};
  const round2 = (value: number) => Number(value.toFixed(2));
  for (const search of searches) {
    const page = await client.listExperts(search.rpc, caller);
    if (page.experts.length === 0) throw new Error(`${search.name}: the seeded catalogue matched nothing`);
    const rpc = await measure(() => client.listExperts(search.rpc, caller));
    const { query } = expertQuery(search.rpc, createPaging());
    const domain = await measure(() => users.listExperts(query));
    const raw = await measure(search.raw);
    const ms = (m: { p50: number; p99: number }) => `${m.p50.toFixed(2)} / ${m.p99.toFixed(2)}`;
    const ratio = (m: { p50: number; p99: number }) =>
      `${(m.p50 / raw.p50).toFixed(1)}x / ${(m.p99 / raw.p99).toFixed(1)}x`;
    console.log(
      `${search.name} | ${ms(rpc)} | ${ms(domain)} | ${ms(raw)} | ${ratio(rpc)} | ${ratio(domain)}`,
    );
    Object.assign(figures, {
      [`${search.key}_grpc_p50_ms`]: round2(rpc.p50),
      [`${search.key}_grpc_p99_ms`]: round2(rpc.p99),
      [`${search.key}_sql_p50_ms`]: round2(raw.p50),
      [`${search.key}_sql_p99_ms`]: round2(raw.p99),
      [`${search.key}_grpc_vs_sql_p50`]: round2(rpc.p50 / raw.p50),
      [`${search.key}_domain_vs_sql_p50`]: round2(domain.p50 / raw.p50),
    });
  }
  console.log(
    JSON.stringify({ bench: "user", ...figures, experts: EXPERTS, iterations: ITERATIONS, page: PAGE }),
  );
  client.close();
  await server.shutdown(1_000);
  await database.close();
} finally {
  await bench.drop();
}
