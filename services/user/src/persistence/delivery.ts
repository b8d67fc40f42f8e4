import type { Sql } from "@parley/kit/db";
import type {
  ClaimedDelivery,
  DeliveryChannel,
  DeliveryContext,
  DeliveryTarget,
  Device,
  NotificationKind,
  PushChannel,
} from "../domain/model";
import type { DeliveryStore } from "../domain/ports";
import { date, json } from "./values";

/**
 * A provider's answer as Postgres takes it: without NULs (text refuses them) and without the
 * half of a surrogate pair a cut left (jsonb refuses it). Either would fail the whole batch's
 * record, again on every retry.
 */
const storable = (detail: string) => detail.replaceAll("\0", "").replace(/\p{Cs}/gu, "\uFFFD");

const toDevice = (row: Record<string, unknown>): Device => ({
  deviceId: row.device_id as string,
  userId: row.user_id as string,
  loginSessionId: row.login_session_id as string,
  channel: row.channel as PushChannel,
  address: row.address as string,
  p256dh: row.p256dh as string,
  auth: row.auth as string,
  createdAt: date(row.created_at),
});

function targetOf(row: Record<string, unknown>): DeliveryTarget | undefined {
  switch (row.channel as DeliveryChannel) {
    case "web_push":
      return row.address
        ? {
            channel: "web_push",
            endpoint: row.address as string,
            p256dh: row.p256dh as string,
            auth: row.auth as string,
          }
        : undefined;
    case "mobile_push":
      return row.address ? { channel: "mobile_push", token: row.address as string } : undefined;
    case "email":
      return row.email ? { channel: "email", address: row.email as string } : undefined;
    case "sms":
      return row.phone ? { channel: "sms", phone: row.phone as string } : undefined;
  }
}

/** Devices, preferences, contact points and the delivery queue over the raw pool. */
export function createDeliveryStore(sql: Sql): DeliveryStore {
  return {
    async contexts(userIds, since) {
      // One statement: each person with their devices, overrides and the hour's count per channel
      // (notifications that went out or may go, whatever their devices; refused ones not).
      const rows = await sql`select p.user_id, p.preferences, c.email, c.phone,
          (select coalesce(json_agg(d), '[]') from users.devices d where d.user_id = p.user_id) as devices,
          (select coalesce(json_object_agg(o.channel || ':' || o.kind, o.enabled), '{}')
            from users.channel_preferences o where o.user_id = p.user_id) as overrides,
          (select coalesce(json_object_agg(r.channel, r.n), '{}') from (
            select channel, count(distinct notification_id)::int as n from users.deliveries
            where user_id = p.user_id and created_at > ${since.toISOString()}::timestamptz
              and status <> 'rate_limited'
            group by channel) r) as recent
        from users.profiles p left join users.contact_points c on c.user_id = p.user_id
        where p.user_id = any(${userIds}::uuid[])`;
      return new Map(
        rows.map((row) => {
          const preferences = json<{ emailNotifications?: boolean; pushNotifications?: boolean }>(
            row.preferences,
          );
          const context: DeliveryContext = {
            emailNotifications: preferences.emailNotifications ?? true,
            pushNotifications: preferences.pushNotifications ?? true,
            overrides: new Map(Object.entries(json<Record<string, boolean>>(row.overrides))),
            devices: json<Array<Record<string, unknown>>>(row.devices).map(toDevice),
            email: (row.email as string | null) ?? null,
            phone: (row.phone as string | null) ?? null,
            recent: json<DeliveryContext["recent"]>(row.recent),
          };
          return [row.user_id as string, context];
        }),
      );
    },
    async setContacts(userId, { email, phone }) {
      await sql`insert into users.contact_points (user_id, email, phone) values (${userId}, ${email}, ${phone})
        on conflict (user_id) do update set email = coalesce(excluded.email, contact_points.email),
          phone = coalesce(excluded.phone, contact_points.phone), updated_at = now()
        where (excluded.email is not null and contact_points.email is distinct from excluded.email)
          or (excluded.phone is not null and contact_points.phone is distinct from excluded.phone)`;
    },
    async upsertDevice(device, keep) {
      return sql.begin(async (tx) => {
        // The person's devices in one order, so two registrations at once do not deadlock.
        await tx`select from users.devices where user_id = ${device.userId} order by device_id for update`;
        const [row] =
          await tx`insert into users.devices (device_id, user_id, login_session_id, channel, address, p256dh, auth, created_at)
          values (${device.deviceId}, ${device.userId}, ${device.loginSessionId}, ${device.channel}, ${device.address},
            ${device.p256dh}, ${device.auth}, ${device.createdAt.toISOString()}::timestamptz)
          on conflict (channel, address) do update set user_id = excluded.user_id,
            login_session_id = excluded.login_session_id, p256dh = excluded.p256dh, auth = excluded.auth,
            created_at = excluded.created_at
          returning *`;
        await tx`delete from users.devices where user_id = ${device.userId} and device_id not in (
          select device_id from users.devices where user_id = ${device.userId}
          order by created_at desc, device_id desc limit ${keep})`;
        return toDevice(row!);
      });
    },
    async removeDevice(userId, deviceId) {
      await sql`delete from users.devices where device_id = ${deviceId} and user_id = ${userId}`;
    },
    async removeLoginSession(loginSessionId) {
      const result = await sql`delete from users.devices where login_session_id = ${loginSessionId}`;
      return result.count;
    },
    async devices(userId) {
      return (await sql`select * from users.devices where user_id = ${userId} order by created_at`).map(
        toDevice,
      );
    },
    async overrides(userId) {
      const rows =
        await sql`select channel, kind, enabled from users.channel_preferences where user_id = ${userId}`;
      return new Map(rows.map((row) => [`${row.channel}:${row.kind}`, row.enabled as boolean]));
    },
    async setOverrides(userId, choices) {
      if (choices.length === 0) return;
      await sql`insert into users.channel_preferences (user_id, channel, kind, enabled)
        select ${userId}, * from unnest(${choices.map((c) => c.channel)}::text[], ${choices.map((c) => c.kind)}::text[],
          ${choices.map((c) => String(c.enabled))}::text[]::bool[])
        on conflict (user_id, channel, kind) do update set enabled = excluded.enabled`;
    },
    async claim(limit, leaseSeconds) {
      const rows = await sql`
        with due as (
          update users.deliveries set next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
          where delivery_id in (select delivery_id from users.deliveries
            where status = 'pending' and next_attempt_at <= now()
            order by next_attempt_at limit ${limit} for update skip locked)
          returning delivery_id, notification_id, user_id, channel, device_id, attempts)
        select due.*, n.kind, n.title, n.body, n.data, n.seq, d.address, d.p256dh, d.auth, c.email, c.phone
        from due join users.notifications n on n.notification_id = due.notification_id
        left join users.devices d on d.device_id = due.device_id
        left join users.contact_points c on c.user_id = due.user_id`;
      return rows.map(
        (row): ClaimedDelivery => ({
          deliveryId: row.delivery_id as string,
          attempts: row.attempts as number,
          deviceId: (row.device_id as string | null) ?? null,
          target: targetOf(row),
          message: {
            notificationId: row.notification_id as string,
            kind: row.kind as NotificationKind,
            title: row.title as string,
            body: row.body as string,
            data: json<Record<string, string>>(row.data),
            seq: BigInt(row.seq as bigint),
          },
        }),
      );
    },
    async record(attempts) {
      // The batch goes as one jsonb parameter, not unnest(arrays): Postgres cannot see its length
      // at planning, so after five runs it keeps the generic plan; with arrays it planned each
      // batch anew (a custom plan for every length), which cost more than the statement's work.
      const rows = attempts.map((a) => ({
        delivery_id: a.deliveryId,
        attempt: a.attempt,
        outcome: a.outcome.outcome,
        detail: a.outcome.outcome === "sent" ? "" : storable(a.outcome.detail.slice(0, 500)),
        status: a.status,
        retry_in_seconds: a.retryInSeconds,
        gone_device_id: a.goneDeviceId,
      }));
      await sql`
        with attempt as (
          select * from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as a(delivery_id uuid, attempt int,
            outcome text, detail text, status text, retry_in_seconds int, gone_device_id uuid)),
        logged as (
          insert into users.delivery_attempts (delivery_id, attempt, outcome, detail)
          select delivery_id, attempt, outcome, detail from attempt on conflict do nothing),
        removed as (
          delete from users.devices where device_id in (select gone_device_id from attempt))
        update users.deliveries d set attempts = a.attempt, status = a.status,
          last_error = nullif(a.detail, ''),
          sent_at = case when a.status = 'sent' then now() else d.sent_at end,
          next_attempt_at = now() + make_interval(secs => a.retry_in_seconds)
        from attempt a where d.delivery_id = a.delivery_id`;
    },
  };
}
