import type { Sql } from "@parley/kit/db";
import type { ProfileStatusStore } from "../domain/staff";

export function createProfileStatusStore(sql: Sql): ProfileStatusStore {
  return {
    async setStatus(userId, status, now) {
      const rows =
        await sql`update users.profiles set status = ${status}, updated_at = ${now.toISOString()}::timestamptz
        where user_id = ${userId} returning user_id`;
      return rows.length > 0;
    },
  };
}
