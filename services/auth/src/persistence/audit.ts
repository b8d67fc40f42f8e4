import type { PersonRole } from "@parley/kit/auth";
import type { Sql } from "@parley/kit/db";
import { and, desc, eq, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import type { AuditEvent } from "../domain/audit";
import type { AuditLog } from "../domain/ports";
import * as schema from "./schema";
import type { Db, Tx } from "./shared";

const { auditEvents } = schema;

/** Appends audit events inside a transaction of the caller's (the change they record). */
export async function appendAudit(tx: Db | Tx, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(auditEvents).values(events);
}

const toEvent = (row: typeof auditEvents.$inferSelect): AuditEvent => ({
  ...row,
  actorRole: row.actorRole as PersonRole,
  before: row.before ?? null,
  after: row.after ?? null,
});

export function createAuditLog(client: Sql): AuditLog {
  const db = drizzle(client, { schema });
  return {
    append: (events) => appendAudit(db, events),
    async list(filter, limit, after) {
      const rows = await db
        .select()
        .from(auditEvents)
        .where(
          and(
            filter.actorId ? eq(auditEvents.actorId, filter.actorId) : undefined,
            filter.targetUserId ? eq(auditEvents.targetUserId, filter.targetUserId) : undefined,
            filter.action ? eq(auditEvents.action, filter.action) : undefined,
            filter.outcome ? eq(auditEvents.outcome, filter.outcome) : undefined,
            after
              ? or(
                  lt(auditEvents.createdAt, after.at),
                  and(eq(auditEvents.createdAt, after.at), lt(auditEvents.id, after.id)),
                )
              : undefined,
          ),
        )
        .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
        .limit(limit + 1);
      const items = rows.slice(0, limit).map(toEvent);
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: rows.length > limit && last ? { at: last.createdAt, id: last.id } : undefined,
      };
    },
  };
}
