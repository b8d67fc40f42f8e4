import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { createOutboxRelay } from "@parley/kit/outbox";
import { NOTIFICATION_OUTBOX } from "../persistence/payments";

/** A notification the payer should get: top_up_credited or refund_issued. */
export interface NotificationIntent {
  id: string;
  userId: string;
  kind: "top_up_credited" | "refund_issued";
  data: Record<string, string>;
}

/** Relays billing's notification outbox to user.Notify, woken on commit, per person in order. */
export function createNotificationRelay(
  sql: Sql,
  notifier: { notify(intent: NotificationIntent): Promise<void> },
  log: Logger,
) {
  return createOutboxRelay<Omit<NotificationIntent, "id">>({
    sql,
    table: NOTIFICATION_OUTBOX,
    log,
    deliver: ({ id, payload }) => notifier.notify({ id, ...payload }),
    orderKey: (payload) => payload.userId,
  });
}
