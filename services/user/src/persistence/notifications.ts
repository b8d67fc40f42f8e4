import type { Bus } from "@parley/kit/bus";
import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import type { Notification, NotificationKind, PlannedDelivery } from "../domain/model";
import type { NotificationFeed, NotificationStore } from "../domain/ports";

const date = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));

function toNotification(row: Record<string, unknown>): Notification {
  return {
    notificationId: row.notification_id as string,
    userId: row.user_id as string,
    seq: BigInt(row.seq as bigint),
    kind: row.kind as NotificationKind,
    title: row.title as string,
    body: row.body as string,
    data: (typeof row.data === "string" ? JSON.parse(row.data) : row.data) as Record<string, string>,
    createdAt: date(row.created_at),
    readAt: row.read_at === null ? null : date(row.read_at),
  };
}

/** A concurrent Notify stored one of this batch's events first: the batch runs again. */
class Raced extends Error {}

/**
 * The inbox over the raw pool. Seqs come from notification_heads: one statement bumps every
 * person's head (row locks taken in user id order, so two batches never deadlock), the next
 * inserts the rows; (producer, event_id) already stored is left out first, and an event a
 * concurrent call stored meanwhile rolls the batch back (no seq is ever skipped) and retries.
 */
export function createNotificationStore(sql: Sql): NotificationStore {
  async function attempt(
    items: Parameters<NotificationStore["insert"]>[0],
    now: Date,
    planned: PlannedDelivery[],
  ) {
    return sql.begin(async (tx) => {
      const existing = await tx`select * from users.notifications
        where (producer, event_id) in (select * from unnest(${items.map((i) => i.producer)}::text[], ${items.map((i) => i.eventId)}::text[]))`;
      const stored = new Map(
        existing.map((row) => [`${row.producer}\n${row.event_id}`, toNotification(row)]),
      );
      const keyOf = (i: { producer: string; eventId: string }) => `${i.producer}\n${i.eventId}`;
      const taken = new Set(stored.keys());
      const fresh = items.filter((item) => {
        const key = keyOf(item);
        if (taken.has(key)) return false;
        taken.add(key);
        return true;
      });
      const created = new Set<string>();
      if (fresh.length > 0) {
        const counts = new Map<string, number>();
        for (const item of fresh) counts.set(item.userId, (counts.get(item.userId) ?? 0) + 1);
        const people = [...counts.keys()].sort();
        const heads = await tx`insert into users.notification_heads as h (user_id, last_seq)
          select * from unnest(${people}::uuid[], ${people.map((p) => counts.get(p)!)}::int8[]) order by 1
          on conflict (user_id) do update set last_seq = h.last_seq + excluded.last_seq
          returning user_id, last_seq`;
        const next = new Map(
          heads.map((h) => [
            h.user_id as string,
            BigInt(h.last_seq as bigint) - BigInt(counts.get(h.user_id as string)!),
          ]),
        );
        const seqs = fresh.map((item) => {
          const seq = next.get(item.userId)! + 1n;
          next.set(item.userId, seq);
          return seq.toString();
        });
        const rows = await tx`insert into users.notifications
          (user_id, seq, notification_id, producer, event_id, kind, title, body, data, created_at)
          select u, s, n, p, e, k, t, b, d::jsonb, ${now.toISOString()}::timestamptz from unnest(
            ${fresh.map((i) => i.userId)}::uuid[], ${seqs}::int8[], ${fresh.map((i) => i.notificationId)}::uuid[],
            ${fresh.map((i) => i.producer)}::text[], ${fresh.map((i) => i.eventId)}::text[],
            ${fresh.map((i) => i.kind)}::text[], ${fresh.map((i) => i.title)}::text[],
            ${fresh.map((i) => i.body)}::text[], ${fresh.map((i) => JSON.stringify(i.data))}::text[]
          ) as x(u, s, n, p, e, k, t, b, d)
          on conflict (producer, event_id) do nothing
          returning *`;
        if (rows.length < fresh.length) throw new Raced();
        for (const row of rows) {
          const notification = toNotification(row);
          stored.set(`${row.producer}\n${row.event_id}`, notification);
          created.add(notification.notificationId);
        }
        const deliveries = planned.filter((d) => created.has(d.notificationId));
        if (deliveries.length > 0)
          await tx`insert into users.deliveries (delivery_id, notification_id, user_id, channel, device_id, status, created_at)
            select *, ${now.toISOString()}::timestamptz from unnest(
              ${deliveries.map((d) => d.deliveryId)}::uuid[], ${deliveries.map((d) => d.notificationId)}::uuid[],
              ${deliveries.map((d) => d.userId)}::uuid[], ${deliveries.map((d) => d.channel)}::text[],
              ${deliveries.map((d) => d.deviceId)}::uuid[], ${deliveries.map((d) => d.status)}::text[])`;
      }
      const seen = new Set<string>();
      return items.map((item) => {
        const notification = stored.get(keyOf(item))!;
        const first = created.has(notification.notificationId) && !seen.has(notification.notificationId);
        seen.add(notification.notificationId);
        return { notification, created: first };
      });
    });
  }

  return {
    async insert(items, now, planned = []) {
      try {
        return await attempt(items, now, planned);
      } catch (error) {
        if (error instanceof Raced) return attempt(items, now, planned);
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
