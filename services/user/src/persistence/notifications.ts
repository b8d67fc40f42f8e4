import type { Bus } from "@parley/kit/bus";
import { isPgError, type Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import type { Notification, NotificationKind, PlannedDelivery } from "../domain/model";
import type { NotificationFeed, NotificationStore } from "../domain/ports";
import { date, json } from "./values";

function toNotification(row: Record<string, unknown>): Notification {
  return {
    notificationId: row.notification_id as string,
    userId: row.user_id as string,
    seq: BigInt(row.seq as bigint),
    kind: row.kind as NotificationKind,
    title: row.title as string,
    body: row.body as string,
    data: json<Record<string, string>>(row.data),
    createdAt: date(row.created_at),
    readAt: row.read_at === null ? null : date(row.read_at),
  };
}

/** The unique index that stores each producer event once. */
const EVENT_UNIQUE = "notifications_event_unique";

const isEventDuplicate = (error: unknown) => isPgError(error, "23505", EVENT_UNIQUE);

/**
 * The inbox over the raw pool. A batch is stored in one statement (its own transaction, one
 * round trip): (producer, event_id) already stored is left out, every person's head in
 * notification_heads is bumped by their count of new ones (row locks taken in user id order, so
 * two batches never deadlock), the rows are inserted with the seqs that frees, and the planned
 * deliveries of exactly those rows. An event a concurrent call stored after this statement's
 * snapshot fails the insert on its unique index, which undoes the whole statement, heads
 * included (no seq is ever skipped); the batch then runs again and finds it stored.
 */
export function createNotificationStore(sql: Sql): NotificationStore {
  async function attempt(
    items: Parameters<NotificationStore["insert"]>[0],
    now: Date,
    planned: PlannedDelivery[],
  ) {
    const keyOf = (i: { producer: string; eventId: string }) => `${i.producer}\n${i.eventId}`;
    // An event twice in one batch is stored once, as its first occurrence.
    const taken = new Set<string>();
    const unique = items.filter((item) => {
      const key = keyOf(item);
      if (taken.has(key)) return false;
      taken.add(key);
      return true;
    });
    const at = now.toISOString();
    // Seqs follow the batch's order per person: the head's new value less its count of new
    // ones, plus each one's place among them.
    const rows = await sql`
      with input as (
        select * from unnest(
          ${unique.map((i) => i.userId)}::uuid[], ${unique.map((i) => i.notificationId)}::uuid[],
          ${unique.map((i) => i.producer)}::text[], ${unique.map((i) => i.eventId)}::text[],
          ${unique.map((i) => i.kind)}::text[], ${unique.map((i) => i.title)}::text[],
          ${unique.map((i) => i.body)}::text[], ${unique.map((i) => JSON.stringify(i.data))}::text[]
        ) with ordinality as x(u, n, p, e, k, t, b, d, ord)
      ), existing as (
        select s.* from users.notifications s join input i on s.producer = i.p and s.event_id = i.e
      ), fresh as (
        select i.*, row_number() over (partition by i.u order by i.ord) as nth,
          count(*) over (partition by i.u) as cnt
        from input i where not exists (select from existing s where s.producer = i.p and s.event_id = i.e)
      ), heads as (
        insert into users.notification_heads as h (user_id, last_seq)
        select u, count(*) from fresh group by u order by u
        on conflict (user_id) do update set last_seq = h.last_seq + excluded.last_seq
        returning user_id, last_seq
      ), inserted as (
        insert into users.notifications
          (user_id, seq, notification_id, producer, event_id, kind, title, body, data, created_at)
        select f.u, h.last_seq - f.cnt + f.nth, f.n, f.p, f.e, f.k, f.t, f.b, f.d::jsonb, ${at}::timestamptz
        from fresh f join heads h on h.user_id = f.u
        returning *
      ), delivered as (
        insert into users.deliveries (delivery_id, notification_id, user_id, channel, device_id, status, created_at)
        select d.*, ${at}::timestamptz from unnest(
          ${planned.map((d) => d.deliveryId)}::uuid[], ${planned.map((d) => d.notificationId)}::uuid[],
          ${planned.map((d) => d.userId)}::uuid[], ${planned.map((d) => d.channel)}::text[],
          ${planned.map((d) => d.deviceId)}::uuid[], ${planned.map((d) => d.status)}::text[]
        ) as d(delivery_id, notification_id, user_id, channel, device_id, status)
        where d.notification_id in (select notification_id from inserted)
      )
      select true as created, * from inserted
      union all
      select false as created, * from existing`;
    const stored = new Map(
      rows.map((row) => [
        `${row.producer}\n${row.event_id}`,
        { notification: toNotification(row), created: row.created as boolean },
      ]),
    );
    // Created only at the event's first occurrence in the batch.
    const seen = new Set<string>();
    return items.map((item) => {
      const key = keyOf(item);
      const { notification, created } = stored.get(key)!;
      const first = created && !seen.has(key);
      seen.add(key);
      return { notification, created: first };
    });
  }

  return {
    async insert(items, now, planned = []) {
      try {
        return await attempt(items, now, planned);
      } catch (error) {
        if (isEventDuplicate(error)) return attempt(items, now, planned);
        throw error;
      }
    },
    async list(userId, { unreadOnly, beforeSeq, limit }) {
      const rows = await sql`select * from users.notifications where user_id = ${userId}
        ${unreadOnly ? sql`and read_at is null` : sql``}
        ${beforeSeq === undefined ? sql`` : sql`and seq < ${beforeSeq.toString()}`}
        order by seq desc limit ${limit}`;
      return rows.map(toNotification);
    },
    async between(userId, afterSeq, uptoSeq, limit) {
      const rows = await sql`select * from users.notifications where user_id = ${userId}
        and seq > ${afterSeq.toString()} ${uptoSeq === undefined ? sql`` : sql`and seq <= ${uptoSeq.toString()}`}
        order by seq limit ${limit}`;
      return rows.map(toNotification);
    },
    async people(userIds) {
      const rows = await sql`select user_id, display_name, preferences->>'locale' as locale
        from users.profiles where user_id = any(${userIds}::uuid[])`;
      return new Map(
        rows.map((row) => [
          row.user_id as string,
          { name: row.display_name as string, locale: (row.locale as string) ?? "" },
        ]),
      );
    },
    async lastSeqs(userIds) {
      const rows =
        await sql`select user_id, last_seq from users.notification_heads where user_id = any(${userIds}::uuid[])`;
      return new Map(rows.map((row) => [row.user_id as string, BigInt(row.last_seq as bigint)]));
    },
    async unreadCount(userId) {
      const [row] =
        await sql`select count(*)::int8 as n from users.notifications where user_id = ${userId} and read_at is null`;
      return BigInt(row!.n as bigint);
    },
    async markRead(userId, notificationId, now) {
      const [row] =
        await sql`update users.notifications set read_at = coalesce(read_at, ${now.toISOString()}::timestamptz)
        where user_id = ${userId} and notification_id = ${notificationId} returning *`;
      return row ? toNotification(row) : undefined;
    },
    async markAllRead(userId, upToSeq, now) {
      const result = await sql`update users.notifications set read_at = ${now.toISOString()}::timestamptz
        where user_id = ${userId} and read_at is null
        ${upToSeq === undefined ? sql`` : sql`and seq <= ${upToSeq.toString()}`}`;
      return BigInt(result.count);
    },
  };
}

export const personTopic = (userId: string) => `parley.me.${userId}`;

function encode(n: Notification): Buffer {
  return Buffer.from(JSON.stringify({ ...n, seq: n.seq.toString() }));
}

function decode(buffer: Buffer): Notification {
  const raw = JSON.parse(buffer.toString()) as Omit<Notification, "seq" | "createdAt" | "readAt"> & {
    seq: string;
    createdAt: string;
    readAt: string | null;
  };
  return {
    ...raw,
    seq: BigInt(raw.seq),
    createdAt: new Date(raw.createdAt),
    readAt: raw.readAt === null ? null : new Date(raw.readAt),
  };
}

/** Notifications over the kit bus, one topic per person. */
export function busNotificationFeed(bus: Bus, log: Logger): NotificationFeed {
  return {
    publish: (notification) => bus.publish(personTopic(notification.userId), encode(notification)),
    subscribe: (userId, onNotification) =>
      bus.subscribe(personTopic(userId), (message) => {
        let notification: Notification;
        try {
          notification = decode(message);
        } catch (error) {
          log.warn({ err: error, userId }, "dropped an unreadable live notification");
          return;
        }
        onNotification(notification);
      }),
    isLive: () => bus.isLive(),
    onInterruption: (listener) => bus.onInterruption(listener),
  };
}
