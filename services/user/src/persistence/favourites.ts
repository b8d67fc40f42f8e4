import type { Sql } from "@parley/kit/db";
import type { FavouriteStore } from "../domain/ports";
import { date } from "./values";

/** Favourites over the raw pool (timestamps sent as ISO text: the pool may be drizzle's). */
export function createFavouriteStore(sql: Sql): FavouriteStore {
  return {
    async add(userId, expertId, now) {
      await sql`insert into users.favourites (user_id, expert_id, created_at)
        values (${userId}, ${expertId}, ${now.toISOString()}::timestamptz) on conflict do nothing`;
    },
    async remove(userId, expertId) {
      await sql`delete from users.favourites where user_id = ${userId} and expert_id = ${expertId}`;
    },
    async list(userId, after, limit) {
      const rows = await sql`select expert_id, created_at from users.favourites where user_id = ${userId}
        ${after ? sql`and (created_at, expert_id) < (${after.at.toISOString()}::timestamptz, ${after.id}::uuid)` : sql``}
        order by created_at desc, expert_id desc limit ${limit}`;
      return rows.map((row) => ({ expertId: row.expert_id as string, createdAt: date(row.created_at) }));
    },
    async claimFans(expertId, now, intervalSeconds) {
      const at = now.toISOString();
      const rows = await sql`update users.favourites set last_notified_at = ${at}::timestamptz
        where expert_id = ${expertId} and (last_notified_at is null
          or last_notified_at <= ${at}::timestamptz - make_interval(secs => ${intervalSeconds}))
          -- A fan and an expert blocked either way are not told of each other (session's blocks, copied here).
          and not exists (select 1 from users.blocks b where b.blocked and (
            (b.blocker_id = users.favourites.user_id and b.blocked_id = users.favourites.expert_id)
            or (b.blocker_id = users.favourites.expert_id and b.blocked_id = users.favourites.user_id)))
        returning user_id`;
      return rows.map((row) => row.user_id as string);
    },
  };
}
