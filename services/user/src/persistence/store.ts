import { and, arrayContains, asc, desc, eq, gte, lte, type SQL, sql } from "drizzle-orm";
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
};

/** The SQL form of the filters SQL can evaluate (presence is not among them). */
function expertConditions(query: ExpertQuery): SQL[] {
  const rate = query.rateKind === "call" ? experts.callRateMinor : experts.chatRateMinor;
  const conditions: SQL[] = [];
  if (query.specialisation)
    conditions.push(arrayContains(experts.specialisations, [query.specialisation.trim().toLowerCase()]));
  if (query.language) conditions.push(arrayContains(experts.languages, [query.language]));
  if (query.minRate)
    conditions.push(eq(experts.currency, query.minRate.currency), gte(rate, query.minRate.amountMinor));
  if (query.maxRate)
    conditions.push(eq(experts.currency, query.maxRate.currency), lte(rate, query.maxRate.amountMinor));
  if (query.minRating) conditions.push(gte(experts.ratingAverage, query.minRating));
  switch (query.availability) {
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
  const after = query.after;
  if (after) {
    // Row comparisons over the sort keys + user_id: every key of a sort runs one way, so
    // these match the btree sort indexes (scanned backwards for the descending sorts).
    switch (query.sort) {
      case "rating":
        conditions.push(
          sql`(${experts.ratingAverage}, ${experts.ratingCount}, ${experts.userId}) < (${Number(after.key[0])}::float8, ${Number(after.key[1])}::int4, ${after.userId}::uuid)`,
        );
        break;
      case "rate_asc":
        conditions.push(
          sql`(${rate}, ${experts.userId}) > (${BigInt(after.key[0] ?? 0)}::int8, ${after.userId}::uuid)`,
        );
        break;
      case "rate_desc":
        conditions.push(
          sql`(${rate}, ${experts.userId}) < (${BigInt(after.key[0] ?? 0)}::int8, ${after.userId}::uuid)`,
        );
        break;
      case "experience":
        conditions.push(
          sql`(${experts.experienceYears}, ${experts.userId}) < (${Number(after.key[0])}::int4, ${after.userId}::uuid)`,
        );
        break;
    }
  }
  return conditions;
}

function expertOrder(query: ExpertQuery) {
  const rate = query.rateKind === "call" ? experts.callRateMinor : experts.chatRateMinor;
  switch (query.sort) {
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

  const getProfile = async (userId: string): Promise<Profile | undefined> =>
    (await profileById.execute({ userId }))[0];
  const getExpert = async (userId: string): Promise<ExpertRecord | undefined> =>
    (await expertById.execute({ userId }))[0];

  return {
    getProfile,
    getExpert,

    async ensureProfile({ userId, displayName }, now) {
      const inserted = await db
        .insert(profiles)
        .values({ userId, displayName, preferences: DEFAULT_PREFERENCES, createdAt: now, updatedAt: now })
        .onConflictDoNothing({ target: profiles.userId })
        .returning();
      if (inserted[0]) return { profile: inserted[0], created: true };
      const existing = await getProfile(userId);
      if (!existing) throw new Error(`profile ${userId} vanished after a conflicting insert`);
      return { profile: existing, created: false };
    },

    async updateProfile(userId: string, changes: ProfileChanges, now: Date) {
      const [updated] = await db
        .update(profiles)
        .set({
          displayName: changes.display_name,
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
      return db
        .select(expertColumns)
        .from(experts)
        .innerJoin(profiles, eq(profiles.userId, experts.userId))
        .where(and(...expertConditions(query)))
        .orderBy(...expertOrder(query))
        .limit(query.limit);
    },
  };
}
