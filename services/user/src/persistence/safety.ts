import type postgres from "postgres";
import type { SafetyCopyStore } from "../domain/safety";

export function createSafetyCopyStore(pool: postgres.Sql): SafetyCopyStore {
  return {
    async putExpertMetrics(m) {
      await pool`insert into users.expert_metrics (expert_id, month, completed_sessions, repeat_client_rate,
          median_first_response_seconds, as_of)
        values (${m.expertId}, ${m.month}, ${m.completedSessions}, ${m.repeatClientRate},
          ${m.medianFirstResponseSeconds}, ${m.asOf.toISOString()}::timestamptz)
        on conflict (expert_id) do update set month = excluded.month, completed_sessions = excluded.completed_sessions,
          repeat_client_rate = excluded.repeat_client_rate,
          median_first_response_seconds = excluded.median_first_response_seconds, as_of = excluded.as_of
        where users.expert_metrics.as_of <= excluded.as_of`;
    },
    async getExpertMetrics(expertId) {
      const [row] = await pool`select * from users.expert_metrics where expert_id = ${expertId}`;
      if (!row) return undefined;
      return {
        expertId: row.expert_id as string,
        month: row.month as string,
        completedSessions: Number(row.completed_sessions),
        repeatClientRate: Number(row.repeat_client_rate),
        medianFirstResponseSeconds:
          row.median_first_response_seconds == null ? null : Number(row.median_first_response_seconds),
        asOf: new Date(row.as_of as string | Date),
      };
    },
    async applyBlock(blockerId, blockedId, blocked, changedAt) {
      await pool`insert into users.blocks (blocker_id, blocked_id, blocked, changed_at)
        values (${blockerId}, ${blockedId}, ${blocked}, ${changedAt.toISOString()}::timestamptz)
        on conflict (blocker_id, blocked_id) do update set blocked = excluded.blocked, changed_at = excluded.changed_at
        where users.blocks.changed_at <= excluded.changed_at`;
    },
    async retractRating(expertId, sessionId) {
      // One statement: the session's rating row goes at most once, and only then leaves the sum and count.
      const [row] = await pool<Array<{ rating_average: number; rating_count: number }>>`
        with removed as (
          delete from users.expert_ratings where session_id = ${sessionId} and expert_id = ${expertId}
          returning expert_id, rating)
        update users.experts e set rating_sum = e.rating_sum - removed.rating, rating_count = e.rating_count - 1
        from removed where e.user_id = removed.expert_id
        returning e.rating_average, e.rating_count`;
      if (row) return { ratingAverage: row.rating_average, ratingCount: row.rating_count, applied: true };
      const [current] = await pool<Array<{ rating_average: number; rating_count: number }>>`
        select rating_average, rating_count from users.experts where user_id = ${expertId}`;
      return current
        ? { ratingAverage: current.rating_average, ratingCount: current.rating_count, applied: false }
        : undefined;
    },
  };
}
