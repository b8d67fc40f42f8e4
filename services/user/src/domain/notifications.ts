import { notFound } from "@parley/kit/errors";
import { isUuid, newId } from "@parley/kit/ids";
import { type DeliveryRules, planDeliveries } from "./delivery";
import type { NewNotification, Notification, NotificationKind } from "./model";
import type { DeliveryStore, NotificationFeed, NotificationStore } from "./ports";
import { localeOf, render } from "./templates";
import { checkUuid, Violations } from "./validation";

export interface NotificationsDeps {
  store: NotificationStore;
  /** Delivery beyond the inbox: who is reached where, planned with the notification. */
  delivery?: {
    store: Pick<DeliveryStore, "contexts">;
    rules: DeliveryRules;
    /** Wakes the delivery worker once planned deliveries committed. */
    nudge(): void;
  };
  feed: Pick<NotificationFeed, "publish">;
  now: () => Date;
}

/** What a producer asks to be told to one person. */
export interface NotifyInput {
  eventId: string;
  userId: string;
  kind: NotificationKind;
  data: Record<string, string>;
}

/** Limits on what a producer may send. */
const MAX_EVENT_ID = 128;
const MAX_DATA_KEYS = 32;
const MAX_DATA_VALUE = 1024;
/** Events one NotifyMany call carries. */
const MAX_EVENTS = 100;

export type Notifications = ReturnType<typeof createNotifications>;

export function createNotifications(deps: NotificationsDeps) {
  function check(input: NotifyInput, v: Violations, prefix = "") {
    if (input.eventId.length === 0 || input.eventId.length > MAX_EVENT_ID)
      v.add(`${prefix}event_id`, `must be 1 to ${MAX_EVENT_ID} characters`);
    checkUuid(v, `${prefix}user_id`, input.userId);
    const entries = Object.entries(input.data);
    if (entries.length > MAX_DATA_KEYS) v.add(`${prefix}data`, `at most ${MAX_DATA_KEYS} entries`);
    if (entries.some(([, value]) => value.length > MAX_DATA_VALUE))
      v.add(`${prefix}data`, `values must be at most ${MAX_DATA_VALUE} characters`);
  }

  /**
   * Renders each notification in its person's locale (English when they have no profile yet),
   * stores it (once per producer event) with its planned deliveries, and pushes live what was
   * new; returns each stored notification. Producers name people by id; the names
   * (`user_name`, `expert_name`) are filled in here, where profiles live.
   */
  async function send(producer: string, inputs: NotifyInput[]) {
    const now = deps.now();
    const { delivery } = deps;
    const ids = new Set(inputs.flatMap((i) => [i.userId, i.data.user_id ?? "", i.data.expert_id ?? ""]));
    // Neither read needs the other: side by side, one round trip's wait instead of two.
    const [profiles, contexts] = await Promise.all([
      deps.store.people([...ids].filter(isUuid)),
      delivery?.store.contexts(
        [...new Set(inputs.map((i) => i.userId))],
        new Date(now.getTime() - 3_600_000),
      ),
    ]);
    const items: NewNotification[] = inputs.map((input) => {
      const data = { ...input.data };
      for (const [idKey, nameKey] of [
        ["user_id", "user_name"],
        ["expert_id", "expert_name"],
      ] as const) {
        const name = profiles.get(data[idKey] ?? "")?.name;
        if (name && !data[nameKey]) data[nameKey] = name;
      }
      return {
        notificationId: newId(),
        producer,
        ...input,
        data,
        ...render(input.kind, data, localeOf(profiles.get(input.userId)?.locale ?? "")),
      };
    });
    const planned = delivery && contexts ? planDeliveries(items, contexts, delivery.rules) : [];
    const results = await deps.store.insert(items, now, planned);
    for (const { notification, created } of results) if (created) deps.feed.publish(notification);
    if (planned.some((d) => d.status === "pending")) delivery?.nudge();
    return results;
  }

  return {
    /** Stores one producer event's notification for one person: idempotent by (producer, event id). */
    async notify(producer: string, input: NotifyInput) {
      const v = new Violations();
      check(input, v);
      v.throwIfAny();
      const [result] = await send(producer, [input]);
      return result!;
    },

    /**
     * A producer's batch of events (an outbox relay's, NotifyMany), each checked as `notify`
     * checks one, stored in one statement in the order given: one person's seqs follow it. An
     * event id twice in the batch is one notification (the store keeps its first occurrence),
     * each occurrence getting it back.
     */
    async notifyMany(producer: string, inputs: NotifyInput[]) {
      const v = new Violations();
      if (inputs.length === 0 || inputs.length > MAX_EVENTS)
        v.add("events", `must be 1 to ${MAX_EVENTS} events`);
      for (const [i, input] of inputs.entries()) check(input, v, `events[${i}].`);
      v.throwIfAny();
      return send(producer, inputs);
    },

    /** The same for many people at once (a fan-out this service makes itself); one statement. */
    async fanOut(producer: string, inputs: NotifyInput[]) {
      if (inputs.length === 0) return [];
      return send(producer, inputs);
    },

    async list(userId: string, query: { unreadOnly: boolean; beforeSeq?: bigint; limit: number }) {
      const [notifications, unreadCount] = await Promise.all([
        deps.store.list(userId, query),
        deps.store.unreadCount(userId),
      ]);
      return { notifications, unreadCount };
    },

    async markRead(userId: string, notificationId: string) {
      const v = new Violations();
      checkUuid(v, "notification_id", notificationId);
      v.throwIfAny();
      const notification = await deps.store.markRead(userId, notificationId, deps.now());
      if (!notification) throw notFound("NOTIFICATION_NOT_FOUND", "no such notification");
      return { notification, unreadCount: await deps.store.unreadCount(userId) };
    },

    async markAllRead(userId: string, upToSeq: bigint) {
      const v = new Violations();
      if (upToSeq < 0n) v.add("up_to_seq", "must not be negative");
      v.throwIfAny();
      const markedCount = await deps.store.markAllRead(
        userId,
        upToSeq > 0n ? upToSeq : undefined,
        deps.now(),
      );
      return { markedCount, unreadCount: await deps.store.unreadCount(userId) };
    },

    /** Stored notifications after `afterSeq` (up to `uptoSeq`), a page at a time (WatchMe's replay). */
    between: (userId: string, afterSeq: bigint, uptoSeq?: bigint): Promise<Notification[]> =>
      deps.store.between(userId, afterSeq, uptoSeq, REPLAY_PAGE),
  };
}

/** Notifications one replay query reads. */
const REPLAY_PAGE = 500;
