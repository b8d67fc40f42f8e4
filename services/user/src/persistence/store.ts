import { and, arrayContains, asc, desc, eq, getTableColumns, gte, lte, type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import type postgres from "postgres";
import type { ExpertQuery, ExpertRecord, Profile, ProfileChanges } from "../domain/model";
import type { UserStore } from "../domain/ports";
import { DEFAULT_PREFERENCES } from "../domain/users";
import { experts, profiles, schema } from "./schema";

const expertColumns = {
  userId: experts.userId,
  displayName: profiles.displayName,
  avatarUrl: profiles.avatarUrl,
  currency: experts.currency,
  chatRateMinor: experts.chatRateMinor,
  callRateMinor: experts.callRateMinor,
  maxConcurrentSessions: experts.maxConcurrentSessions,
  specialisations: experts.specialisations,
  languages: experts.languages,
  experienceYears: experts.experienceYears,
  bio: experts.bio,
  chosenAvailability: experts.availability,
  activeSessions: experts.activeSessions,
  ratingAverage: experts.ratingAverage,
  ratingCount: experts.ratingCount,
  updatedAt: experts.updatedAt,
  status: profiles.status,
};

/** Which filters a list query uses: one prepared statement per shape, values bound at run time. */
function shapeOf(query: ExpertQuery) {
  return {
    specialisation: Boolean(query.specialisation),
    language: Boolean(query.language),
    minRate: Boolean(query.minRate),
    maxRate: Boolean(query.maxRate),
    minRating: Boolean(query.minRating),
    availability: query.availability ?? "any",
    rateKind: query.rateKind,
    sort: query.sort,
    after: Boolean(query.after),
    viewer: Boolean(query.viewerId),
  };
}
type ListShape = ReturnType<typeof shapeOf>;

const p = (name: string) => sql.placeholder(name);

/** The SQL form of the filters SQL can evaluate (presence is not among them), over placeholders. */
function expertConditions(shape: ListShape): SQL[] {
  const rate = shape.rateKind === "call" ? experts.callRateMinor : experts.chatRateMinor;
  // Suspended and deleted people are never discovered.
  const conditions: SQL[] = [eq(profiles.status, "active")];
  if (shape.specialisation) conditions.push(arrayContains(experts.specialisations, p("specialisations")));
  if (shape.language) conditions.push(arrayContains(experts.languages, p("languages")));
  if (shape.minRate) conditions.push(eq(experts.currency, p("minCurrency")), gte(rate, p("minRate")));
  if (shape.maxRate) conditions.push(eq(experts.currency, p("maxCurrency")), lte(rate, p("maxRate")));
  if (shape.minRating) conditions.push(gte(experts.ratingAverage, p("minRating")));
  switch (shape.availability) {
    case "available":
      conditions.push(
        eq(experts.availability, "available"),
        sql`${experts.activeSessions} < ${experts.maxConcurrentSessions}`,
      );
      break;
    case "busy":
      conditions.push(
        eq(experts.availability, "available"),
        sql`${experts.activeSessions} >= ${experts.maxConcurrentSessions}`,
      );
      break;
    case "unavailable":
      conditions.push(eq(experts.availability, "unavailable"));
      break;
  }
  if (shape.viewer)
    // A pair where either blocked the other does not meet, discovery included (blocks_by_blocked
    // and the primary key answer both directions).
    conditions.push(
      sql`not exists (select 1 from users.blocks b where b.blocked and (
        (b.blocker_id = ${p("viewerId")}::uuid and b.blocked_id = ${experts.userId})
        or (b.blocked_id = ${p("viewerId")}::uuid and b.blocker_id = ${experts.userId})))`,
    );
  if (shape.after) {
    // Row comparisons over the sort keys + user_id: every key of a sort runs one way, so
    // these match the btree sort indexes (scanned backwards for the descending sorts).
    switch (shape.sort) {
      case "rating":
        conditions.push(
          sql`(${experts.ratingAverage}, ${experts.ratingCount}, ${experts.userId}) < (${p("key0")}::float8, ${p("key1")}::int4, ${p("afterId")}::uuid)`,
        );
        break;
      case "rate_asc":
        conditions.push(sql`(${rate}, ${experts.userId}) > (${p("key0")}::int8, ${p("afterId")}::uuid)`);
        break;
      case "rate_desc":
        conditions.push(sql`(${rate}, ${experts.userId}) < (${p("key0")}::int8, ${p("afterId")}::uuid)`);
        break;
      case "experience":
        conditions.push(
          sql`(${experts.experienceYears}, ${experts.userId}) < (${p("key0")}::int4, ${p("afterId")}::uuid)`,
        );
        break;
    }
  }
  return conditions;
}

/** The values bound to a shape's placeholders. */
function listParameters(query: ExpertQuery): Record<string, unknown> {
  return {
    specialisations: query.specialisation ? [query.specialisation.trim().toLowerCase()] : undefined,
    languages: query.language ? [query.language] : undefined,
    minCurrency: query.minRate?.currency,
    minRate: query.minRate?.amountMinor,
    maxCurrency: query.maxRate?.currency,
    maxRate: query.maxRate?.amountMinor,
    minRating: query.minRating,
    key0: query.after?.key[0],
    key1: query.after?.key[1],
    afterId: query.after?.userId,
    viewerId: query.viewerId,
    limit: query.limit,
  };
}

function expertOrder(shape: ListShape) {
  const rate = shape.rateKind === "call" ? experts.callRateMinor : experts.chatRateMinor;
  switch (shape.sort) {
    case "rating":
      return [desc(experts.ratingAverage), desc(experts.ratingCount), desc(experts.userId)];
    case "rate_asc":
      return [asc(rate), asc(experts.userId)];
    case "rate_desc":
      return [desc(rate), desc(experts.userId)];
    case "experience":
      return [desc(experts.experienceYears), desc(experts.userId)];
  }
}

export function createUserStore(pool: postgres.Sql): UserStore {
  const db = drizzle(pool, { schema });

  const profileById = db
    .select()
    .from(profiles)
    .where(eq(profiles.userId, sql.placeholder("userId")))
    .prepare("users_profile_by_id");

  const expertById = db
    .select(expertColumns)
    .from(experts)
    .innerJoin(profiles, eq(profiles.userId, experts.userId))
    .where(eq(experts.userId, sql.placeholder("userId")))
    .prepare("users_expert_by_id");

  const syncedUser = db
    .select({ userId: profiles.userId })
    .from(profiles)
    .where(
      and(
        eq(profiles.partnerId, sql.placeholder("partnerId")),
        eq(profiles.externalId, sql.placeholder("externalId")),
      ),
    )
    .prepare("users_synced_user");

  // At most a few hundred shapes (filters present × availability × sort × rate kind × cursor).
  const listStatements = new Map<string, ReturnType<typeof prepareList>>();
  const prepareList = (shape: ListShape, name: string) =>
    db
      .select(expertColumns)
      .from(experts)
      .innerJoin(profiles, eq(profiles.userId, experts.userId))
      .where(and(...expertConditions(shape)))
      .orderBy(...expertOrder(shape))
      .limit(p("limit"))
      .prepare(name);

  const getProfile = async (userId: string): Promise<Profile | undefined> =>
    (await profileById.execute({ userId }))[0];
  const getExpert = async (userId: string): Promise<ExpertRecord | undefined> =>
    (await expertById.execute({ userId }))[0];

  return {
    getProfile,
    getExpert,

    async ensureProfile({ userId, displayName, placeholder }, now) {
      const insert = db.insert(profiles).values({
        userId,
        displayName,
        displayNameIsPlaceholder: placeholder,
        preferences: DEFAULT_PREFERENCES,
        createdAt: now,
        updatedAt: now,
      });
      // The row lock ON CONFLICT takes orders this against UpdateProfile: a name the person set
      // first is kept, one they set after replaces this.
      const [written] = await (placeholder
        ? insert.onConflictDoNothing({ target: profiles.userId })
        : insert.onConflictDoUpdate({
            target: profiles.userId,
            set: { displayName, displayNameIsPlaceholder: false, updatedAt: now },
            setWhere: eq(profiles.displayNameIsPlaceholder, true),
          })
      ).returning({ ...getTableColumns(profiles), created: sql<boolean>`(xmax = 0)` });
      if (written) {
        const { created, ...profile } = written;
        return { profile, created };
      }
      const existing = await getProfile(userId);
      if (!existing) throw new Error(`profile ${userId} vanished after a conflicting insert`);
      return { profile: existing, created: false };
    },

    async updateProfile(userId: string, changes: ProfileChanges, now: Date) {
      const [updated] = await db
        .update(profiles)
        .set({
          displayName: changes.display_name,
          ...(changes.display_name === undefined ? {} : { displayNameIsPlaceholder: false }),
          avatarUrl: changes.avatar_url,
          bio: changes.bio,
          languages: changes.languages,
          preferences: changes.preferences,
          verified: changes.verified,
          updatedAt: now,
        })
        .where(eq(profiles.userId, userId))
        .returning();
      return updated;
    },

    async upsertSyncedUser(partnerId, record, newUserId, now) {
      const [row] = await db
        .insert(profiles)
        .values({
          userId: newUserId,
          displayName: record.displayName,
          avatarUrl: record.avatarUrl,
          bio: record.bio,
          languages: record.languages,
          preferences: DEFAULT_PREFERENCES,
          partnerId,
          externalId: record.externalId,
          syncStatus: "created",
          syncCount: 1,
          lastSyncedAt: now,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoUpdate({
          target: [profiles.partnerId, profiles.externalId],
          set: {
            displayName: record.displayName,
            avatarUrl: record.avatarUrl,
            bio: record.bio,
            languages: record.languages,
            syncStatus: "updated",
            syncCount: sql`${profiles.syncCount} + 1`,
            lastSyncedAt: now,
            updatedAt: now,
          },
        })
        // xmax is 0 only on a freshly inserted row version: tells insert from update.
        .returning({ userId: profiles.userId, created: sql<boolean>`(xmax = 0)` });
      if (!row) throw new Error("upsert returned no row");
      return row;
    },

    async findSyncedUser(partnerId, externalId) {
      return (await syncedUser.execute({ partnerId, externalId }))[0]?.userId;
    },

    async upsertExpert(userId, fields, now) {
      const values = {
        currency: fields.currency,
        chatRateMinor: fields.chatRateMinor,
        callRateMinor: fields.callRateMinor,
        maxConcurrentSessions: fields.maxConcurrentSessions,
        specialisations: fields.specialisations,
        languages: fields.languages,
        experienceYears: fields.experienceYears,
        bio: fields.bio,
        updatedAt: now,
      };
      await db
        .insert(experts)
        .values({ userId, ...values, createdAt: now })
        .onConflictDoUpdate({ target: experts.userId, set: values });
      const stored = await getExpert(userId);
      if (!stored) throw new Error(`expert ${userId} missing after upsert`);
      return stored;
    },

    async setAvailability(userId, availability, now) {
      const updated = await db
        .update(experts)
        .set({ availability, updatedAt: now })
        .where(eq(experts.userId, userId))
        .returning({ userId: experts.userId });
      return updated.length > 0 ? getExpert(userId) : undefined;
    },

    async setLoad(userId, activeSessions) {
      const updated = await db
        .update(experts)
        .set({ activeSessions })
        .where(eq(experts.userId, userId))
        .returning({ userId: experts.userId });
      return updated.length > 0 ? getExpert(userId) : undefined;
    },

    async addRating(expertId, sessionId, rating) {
      // One statement: the session's rating row is inserted at most once (primary key), and
      // only a fresh insert adds to the sum and count.
      const applied = await pool<Array<{ rating_average: number; rating_count: number }>>`
        with inserted as (
          insert into users.expert_ratings (session_id, expert_id, rating)
          select ${sessionId}, ${expertId}, ${rating}
          where exists (select 1 from users.experts where user_id = ${expertId})
          on conflict (session_id) do nothing
          returning expert_id, rating)
        update users.experts e
        set rating_sum = e.rating_sum + inserted.rating, rating_count = e.rating_count + 1
        from inserted where e.user_id = inserted.expert_id
        returning e.rating_average, e.rating_count`;
      const row = applied[0];
      if (row) return { ratingAverage: row.rating_average, ratingCount: row.rating_count, applied: true };
      const current = await getExpert(expertId);
      if (!current) return undefined;
      return { ratingAverage: current.ratingAverage, ratingCount: current.ratingCount, applied: false };
    },

    async listExperts(query) {
      const shape = shapeOf(query);
      const key = JSON.stringify(shape);
      let statement = listStatements.get(key);
      if (!statement) {
        statement = prepareList(shape, `users_list_experts_${listStatements.size}`);
        listStatements.set(key, statement);
      }
      return statement.execute(listParameters(query));
    },
  };
}
