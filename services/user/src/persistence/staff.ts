import type { Sql } from "@parley/kit/db";
import type { ProfileStatusStore, ProfileSummary } from "../domain/staff";

export function createProfileStatusStore(sql: Sql): ProfileStatusStore {
  return {
    async setStatus(userId, status, now) {
      const rows =
        await sql`update users.profiles set status = ${status}, updated_at = ${now.toISOString()}::timestamptz
        where user_id = ${userId} returning user_id`;
      return rows.length > 0;
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
