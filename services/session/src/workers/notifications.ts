import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { createOutboxRelay } from "@parley/kit/outbox";
import type { NotificationIntent } from "../domain/model";
import type { Notifier } from "../domain/ports";
import { NOTIFICATION_OUTBOX } from "../persistence/store";

/**
 * Relays the notification outbox to the user service's Notify (idempotent by the row id),
 * woken by the NOTIFY of each committed intent (an expert hears of a request at once), with a
 * poll as the fallback.
 */
export function createNotificationRelay(sql: Sql, notifier: Notifier, log: Logger, pollMs?: number) {
  return createOutboxRelay<Omit<NotificationIntent, "id">>({
    sql,
    table: NOTIFICATION_OUTBOX,
    log,
    pollMs,
    deliver: ({ id, payload }) => notifier.notify({ id, ...payload }),
    orderKey: (payload) => payload.userId,
  });
}
