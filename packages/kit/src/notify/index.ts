import {
  NotificationKind,
  type NotifyManyRequest,
  type NotifyRequest,
} from "@parley/proto/parley/user/v1/user";
import type { Sql } from "../db";
import { isAppError } from "../errors";
import type { Logger } from "../log";
import { createOutboxRelay } from "../outbox";

/**
 * A notification a service asks the user service to deliver (user.Notify): `id` is the
 * producer's event id (its outbox row id), which the user service deduplicates on; `kind` is
 * the snake_case name of a NotificationKind (`top_up_credited`), each service naming its own.
 */
export interface NotificationIntent<K extends string = string> {
  id: string;
  userId: string;
  kind: K;
  data: Record<string, string>;
}

export interface Notifier {
  notify(intent: NotificationIntent): Promise<void>;
  /** Many intents in one call (user.NotifyMany), one person's stored in the order given. */
  notifyMany(intents: NotificationIntent[]): Promise<void>;
}

/** The Notify request for an intent; a kind the protos do not define is a programming error. */
export function notifyRequest(intent: NotificationIntent): NotifyRequest {
  const kind =
    NotificationKind[`NOTIFICATION_KIND_${intent.kind.toUpperCase()}` as keyof typeof NotificationKind];
  if (kind === undefined || kind === NotificationKind.UNRECOGNIZED)
    throw new Error(`unknown notification kind ${intent.kind}`);
  return { eventId: intent.id, userId: intent.userId, kind, data: intent.data };
}

/** Events one user.NotifyMany call takes. */
const NOTIFY_MANY_MAX = 100;

/** The NotifyMany requests for intents, in order, at most NOTIFY_MANY_MAX events each. */
function notifyManyRequests(intents: NotificationIntent[]): NotifyManyRequest[] {
  const requests: NotifyManyRequest[] = [];
  for (let i = 0; i < intents.length; i += NOTIFY_MANY_MAX)
    requests.push({ events: intents.slice(i, i + NOTIFY_MANY_MAX).map(notifyRequest) });
  return requests;
}

/** A notifier over the user service's client (whichever client the service already holds). */
export function userNotifier(client: {
  notify(request: NotifyRequest): Promise<unknown>;
  notifyMany(request: NotifyManyRequest): Promise<unknown>;
}): Notifier {
  return {
    async notify(intent) {
      await client.notify(notifyRequest(intent));
    },
    async notifyMany(intents) {
      for (const request of notifyManyRequests(intents)) await client.notifyMany(request);
    },
  };
}

export interface NotificationRelayOptions {
  sql: Sql;
  /** The service's notification outbox, e.g. `sessions.notification_outbox`. */
  table: string;
  notifier: Notifier;
  log: Logger;
  /** The fallback poll (default: the outbox relay's). */
  pollMs?: number;
}

/**
 * Relays a service's notification outbox to user.NotifyMany (idempotent by the row id), a
 * batch's intents in one call (a lone one through user.Notify), woken by the NOTIFY of each
 * committed intent, per person in order; a refused call is delivered again intent by intent.
 * An intent user refuses as invalid (INVALID_ARGUMENT: its data too long, say) never will be
 * taken: it is logged as an error and dropped, not retried for ever ahead of the person's later
 * notices.
 */
export function createNotificationRelay(options: NotificationRelayOptions) {
  const { log, table } = options;
  return createOutboxRelay<Omit<NotificationIntent, "id">>({
    sql: options.sql,
    table,
    log,
    pollMs: options.pollMs,
    deliver: async ({ id, payload }) => {
      try {
        await options.notifier.notify({ id, ...payload });
      } catch (error) {
        if (!isAppError(error) || error.kind !== "invalid_argument") throw error;
        log.error({ err: error, table, id, kind: payload.kind }, "notification refused as invalid; dropped");
      }
    },
    deliverMany: (rows) => options.notifier.notifyMany(rows.map(({ id, payload }) => ({ id, ...payload }))),
    orderKey: (payload) => payload.userId,
  });
}
