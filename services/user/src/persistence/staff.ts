import type { Sql } from "@parley/kit/db";
import type { ProfileStatusStore, ProfileSummary } from "../domain/staff";

export function createProfileStatusStore(sql: Sql): ProfileStatusStore {
  return {
    async setStatus(userId, status, now) {
      if (status !== "deleted") {
        const rows = await sql`update users.profiles set status = ${status},
            updated_at = ${now.toISOString()}::timestamptz
          where user_id = ${userId} and status <> 'deleted' returning user_id`;
        return rows.length > 0;
      }
      // Deletion: the profile stays as an anonymous row (sessions and the ledger name the id);
      // what identified or reached the person goes.
      return (await sql.begin(async (tx) => {
        const rows = await tx`update users.profiles set status = 'deleted', display_name = 'Deleted user',
            display_name_is_placeholder = false, avatar_url = '', bio = '', languages = '{}', verified = false,
            external_id = null, partner_id = null, updated_at = ${now.toISOString()}::timestamptz
          where user_id = ${userId} returning user_id`;
        await tx`update users.experts set bio = '', availability = 'offline' where user_id = ${userId}`;
        await tx`delete from users.contact_points where user_id = ${userId}`;
        await tx`delete from users.devices where user_id = ${userId}`;
        await tx`delete from users.favourites where user_id = ${userId} or expert_id = ${userId}`;
        await tx`delete from users.channel_preferences where user_id = ${userId}`;
        return rows.length > 0;
      })) as boolean;
    },

    async search(query, afterId, limit) {
      const where =
        "name" in query
          ? sql`display_name ilike ${`%${query.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`
          : "externalId" in query
            ? sql`external_id = ${query.externalId}`
            : sql`user_id = any(${query.userIds}::uuid[])`;
      const rows = await sql<
        {
          user_id: string;
          display_name: string;
          partner_id: string | null;
          external_id: string | null;
          status: ProfileSummary["status"];
        }[]
      >`select user_id, display_name, partner_id, external_id, status from users.profiles
        where ${where} ${afterId ? sql`and user_id > ${afterId}` : sql``}
        order by user_id limit ${limit}`;
      return rows.map((row) => ({
        userId: row.user_id,
        displayName: row.display_name,
        partnerId: row.partner_id,
        externalId: row.external_id,
        status: row.status,
      }));
    },
  };
}
