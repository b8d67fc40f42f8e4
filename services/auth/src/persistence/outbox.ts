import type { Sql } from "@parley/kit/db";
import { endSpan, runTraced, startOutboxSpan } from "@parley/kit/tracing";
import type { OutboxMessage } from "../domain/model";

export interface OutboxEntry {
  id: string;
  message: OutboxMessage;
  attempts: number;
}

/** The outbox table as a work queue: claim due rows (SKIP LOCKED: instances share), settle each. */
export function createOutboxQueue(sql: Sql) {
  return {
    /** Runs `deliver` for up to `limit` due messages inside one transaction holding their row locks. */
    async drain(
      limit: number,
      deliver: (
        entry: OutboxEntry,
      ) => Promise<{ ok: true } | { ok: false; error: string; retryInSeconds: number }>,
    ): Promise<number> {
      return sql.begin(async (tx) => {
        const rows = await tx<
          { id: string; kind: string; payload: Record<string, string>; attempts: number }[]
        >`
          select id, kind, payload, attempts from auth.outbox
          where delivered_at is null and next_attempt_at <= now()
          order by next_attempt_at
          limit ${limit}
          for update skip locked`;
        for (const row of rows) {
          // Continues the trace of the change that wrote the row (the payload loses its `@trace`).
          const span = startOutboxSpan("auth.outbox", row.payload, { "messaging.message.id": row.id });
          const outcome = await runTraced(span, () =>
            deliver({
              id: row.id,
              message: { kind: row.kind, payload: row.payload } as OutboxMessage,
              attempts: row.attempts,
            }),
          );
          endSpan(span, outcome.ok ? undefined : new Error(outcome.error));
          if (outcome.ok) {
            // Delivered secrets (reset tokens) do not stay in the table.
            await tx`update auth.outbox set delivered_at = now(), payload = '{}'::jsonb, attempts = attempts + 1
                     where id = ${row.id}`;
          } else {
            await tx`update auth.outbox set attempts = attempts + 1, last_error = ${outcome.error.slice(0, 500)},
                     next_attempt_at = now() + make_interval(secs => ${outcome.retryInSeconds})
                     where id = ${row.id}`;
          }
        }
        return rows.length;
      });
    },
  };
}
