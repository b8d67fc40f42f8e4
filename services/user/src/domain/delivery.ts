import { failedPrecondition } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import {
  DELIVERY_CHANNELS,
  type DeliveryChannel,
  type DeliveryContext,
  type DeliveryOutcome,
  type Device,
  NOTIFICATION_KINDS,
  type NotificationKind,
  type PlannedDelivery,
  type PushChannel,
  type RecordedAttempt,
  SECURITY_KINDS,
} from "./model";
import type { DeliveryAdapter, DeliveryStore } from "./ports";
import { checkUuid, Violations } from "./validation";

/**
 * What goes where by default. Push: everything. Email: what is worth keeping (the session's
 * summary, money, security). SMS costs and interrupts: only "someone is waiting for you" and
 * security notices. A person may turn any of it on or off (security notices stay on).
 */
const DEFAULTS: Record<DeliveryChannel, (kind: NotificationKind) => boolean> = {
  web_push: () => true,
  mobile_push: () => true,
  email: (kind) =>
    SECURITY_KINDS.has(kind) ||
    ["session_ended", "top_up_credited", "refund_issued", "dispute_resolved", "moderation_warning"].includes(
      kind,
    ),
  sms: (kind) => SECURITY_KINDS.has(kind) || kind === "request_waiting",
};

export interface DeliveryRules {
  /**
   * Notifications per person per channel per hour (each once, whatever the person's devices;
   * refused ones not counted); more are recorded as rate_limited, not sent.
   */
  perHour: Record<DeliveryChannel, number>;
  /**
   * Security notices (a new sign-in, a password changed) are not held back by the ordinary
   * limit, but stop at this many per hour (all notices counted): signing in again and again must
   * not send SMS and email without end to an address nobody has verified.
   */
  securityPerHour: Record<DeliveryChannel, number>;
  /** Attempts before a transient failure becomes final. */
  maxAttempts: number;
  /**
   * Where Web Push endpoints may point (`scheme://host`, the host and its subdomains, any
   * port): the browsers' push services. Anything else is refused at registration and never
   * sent to (the worker must not be a way to reach other hosts).
   */
  pushServices: readonly string[];
  /** Push devices one person may register; a new one beyond replaces their oldest. */
  devicesPerPerson: number;
}

/** The push services of Chrome and Edge's FCM, Firefox, Windows and Safari. */
export const BROWSER_PUSH_SERVICES = [
  "https://fcm.googleapis.com",
  "https://push.services.mozilla.com",
  "https://notify.windows.com",
  "https://push.apple.com",
];

export const DEFAULT_DELIVERY_RULES: DeliveryRules = {
  perHour: { web_push: 60, mobile_push: 60, email: 20, sms: 5 },
  securityPerHour: { web_push: 120, mobile_push: 120, email: 40, sms: 10 },
  maxAttempts: 5,
  pushServices: BROWSER_PUSH_SERVICES,
  devicesPerPerson: 10,
};

/** Whether a Web Push endpoint is at one of `services` (DeliveryRules.pushServices). */
export function atPushService(endpoint: string, services: readonly string[]): boolean {
  if (!URL.canParse(endpoint)) return false;
  const url = new URL(endpoint);
  if (url.username || url.password) return false;
  return services.some((service) => {
    if (!URL.canParse(service)) return false;
    const allowed = new URL(service);
    return (
      url.protocol === allowed.protocol &&
      (url.hostname === allowed.hostname || url.hostname.endsWith(`.${allowed.hostname}`))
    );
  });
}

/** Whether a kind goes out on a channel for this person. */
export function wanted(context: DeliveryContext, channel: DeliveryChannel, kind: NotificationKind): boolean {
  if (SECURITY_KINDS.has(kind)) return true;
  if (channel === "email" && !context.emailNotifications) return false;
  if ((channel === "web_push" || channel === "mobile_push") && !context.pushNotifications) return false;
  return context.overrides.get(`${channel}:${kind}`) ?? DEFAULTS[channel](kind);
}

/**
 * The deliveries of new notifications: per wanted channel that can reach the person (a device
 * for push, an address for email and SMS), within the per-hour limit (security notices within
 * their own); over it, recorded as rate_limited.
 */
export function planDeliveries(
  items: Array<{ notificationId: string; userId: string; kind: NotificationKind }>,
  contexts: Map<string, DeliveryContext>,
  rules: DeliveryRules,
): PlannedDelivery[] {
  const planned: PlannedDelivery[] = [];
  const counts = new Map<string, number>();
  for (const item of items) {
    const context = contexts.get(item.userId);
    if (!context) continue;
    for (const channel of DELIVERY_CHANNELS) {
      if (!wanted(context, channel, item.kind)) continue;
      const targets: Array<Device | null> =
        channel === "web_push" || channel === "mobile_push"
          ? context.devices.filter((d) => d.channel === channel)
          : (channel === "email" ? context.email : context.phone)
            ? [null]
            : [];
      if (targets.length === 0) continue;
      const key = `${item.userId}:${channel}`;
      const used = counts.get(key) ?? context.recent[channel] ?? 0;
      const limited =
        used >= (SECURITY_KINDS.has(item.kind) ? rules.securityPerHour : rules.perHour)[channel];
      // A notification counts once, however many devices, and only if it may go out.
      counts.set(key, limited ? used : used + 1);
      for (const device of targets)
        planned.push({
          deliveryId: newId(),
          notificationId: item.notificationId,
          userId: item.userId,
          channel,
          deviceId: device?.deviceId ?? null,
          status: limited ? "rate_limited" : "pending",
        });
    }
  }
  return planned;
}

/** Seconds before attempt n + 1 of a transient failure: 2, 4, 8, … capped at 10 minutes. */
export const retryBackoffSeconds = (attempt: number) => Math.min(600, 2 ** attempt);

export type Devices = ReturnType<typeof createDevices>;

/** Devices and delivery preferences, as the person manages them. */
export function createDevices(deps: {
  store: DeliveryStore;
  now: () => Date;
  rules: Pick<DeliveryRules, "pushServices" | "devicesPerPerson">;
}) {
  return {
    async register(
      userId: string,
      loginSessionId: string,
      input: {
        channel: PushChannel | undefined;
        endpoint: string;
        p256dh: string;
        auth: string;
        fcmToken: string;
      },
    ): Promise<Device> {
      const v = new Violations();
      if (input.channel === "web_push") {
        if (!atPushService(input.endpoint, deps.rules.pushServices))
          v.add("endpoint", "must be the subscription's endpoint at a browser's push service");
        if (!/^[A-Za-z0-9_-]{80,100}$/.test(input.p256dh))
          v.add("p256dh", "must be a base64url P-256 public key");
        if (!/^[A-Za-z0-9_-]{16,32}$/.test(input.auth)) v.add("auth", "must be a base64url auth secret");
      } else if (input.channel === "mobile_push") {
        if (input.fcmToken.length < 8 || input.fcmToken.length > 4096)
          v.add("fcm_token", "must be an FCM token");
      } else v.add("channel", "must be WEB_PUSH or MOBILE_PUSH");
      v.throwIfAny();
      return deps.store.upsertDevice(
        {
          deviceId: newId(),
          userId,
          loginSessionId,
          channel: input.channel!,
          address: input.channel === "web_push" ? input.endpoint : input.fcmToken,
          p256dh: input.channel === "web_push" ? input.p256dh : "",
          auth: input.channel === "web_push" ? input.auth : "",
          createdAt: deps.now(),
        },
        deps.rules.devicesPerPerson,
      );
    },

    async unregister(userId: string, deviceId: string) {
      const v = new Violations();
      checkUuid(v, "device_id", deviceId);
      v.throwIfAny();
      await deps.store.removeDevice(userId, deviceId);
    },

    forgetLoginSession: (loginSessionId: string) => {
      const v = new Violations();
      if (!loginSessionId) v.add("login_session_id", "is required");
      v.throwIfAny();
      return deps.store.removeLoginSession(loginSessionId);
    },

    async settings(
      userId: string,
      context: Pick<DeliveryContext, "emailNotifications" | "pushNotifications">,
    ) {
      const overrides = await deps.store.overrides(userId);
      const full: DeliveryContext = {
        ...context,
        overrides,
        devices: [],
        email: null,
        phone: null,
        recent: {},
      };
      return {
        preferences: DELIVERY_CHANNELS.flatMap((channel) =>
          NOTIFICATION_KINDS.map((kind) => ({ channel, kind, enabled: wanted(full, channel, kind) })),
        ),
        devices: await deps.store.devices(userId),
      };
    },

    async update(
      userId: string,
      choices: Array<{
        channel: DeliveryChannel | undefined;
        kind: NotificationKind | undefined;
        enabled: boolean;
      }>,
    ) {
      const v = new Violations();
      choices.forEach((choice, i) => {
        if (!choice.channel) v.add(`preferences[${i}].channel`, "must be a delivery channel");
        if (!choice.kind) v.add(`preferences[${i}].kind`, "must be a notification kind");
      });
      v.throwIfAny();
      if (choices.some((c) => SECURITY_KINDS.has(c.kind!) && !c.enabled))
        throw failedPrecondition("SECURITY_NOTICES_ALWAYS_ON", "security notices cannot be turned off");
      await deps.store.setOverrides(
        userId,
        choices.map((c) => ({ channel: c.channel!, kind: c.kind!, enabled: c.enabled })),
      );
    },
  };
}

export interface DeliverDeps {
  store: Pick<DeliveryStore, "claim" | "record">;
  /** Adapters by channel; a channel without one is not configured (its deliveries fail). */
  adapters: Partial<Record<DeliveryChannel, DeliveryAdapter>>;
  rules: DeliveryRules;
}

/** How long a claim leases its deliveries to this worker; after it, any claim may take them again. */
const LEASE_SECONDS = 60;

/**
 * How long one send may take before it counts as a transient failure: well inside the lease, so
 * a batch is recorded before any of its deliveries can be claimed again.
 */
const SEND_DEADLINE_MS = 30_000;

/** The send's outcome, or a transient failure when it has not answered within SEND_DEADLINE_MS. */
function withinDeadline(sending: Promise<DeliveryOutcome>): Promise<DeliveryOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<DeliveryOutcome>((resolve) => {
    timer = setTimeout(
      () => resolve({ outcome: "retry", detail: `no answer within ${SEND_DEADLINE_MS / 1000} s` }),
      SEND_DEADLINE_MS,
    );
  });
  return Promise.race([sending, late]).finally(() => clearTimeout(timer));
}

/**
 * Sends one batch of due deliveries through their channel's adapter, then records every attempt
 * in one statement: sent; gone (the device is removed); transient failures again after a backoff
 * until `maxAttempts`; anything else failed. At least once: until that statement commits, the
 * batch stays leased, so a worker that dies (or whose record fails) mid-batch loses nothing —
 * after the lease every delivery of the batch is claimed and sent again, the ones already sent
 * included. When `stopping` aborts first (shutdown), the attempts that have answered are
 * recorded at once and the sends still out stay leased: a slow one cannot keep the batch's
 * answered ones unrecorded past the process's grace (and sent again after the lease).
 */
export async function deliverBatch(
  deps: DeliverDeps,
  limit: number,
  stopping?: AbortSignal,
): Promise<number> {
  const claimed = await deps.store.claim(limit, LEASE_SECONDS);
  if (claimed.length === 0) return 0;
  const answered: RecordedAttempt[] = [];
  const sending = Promise.all(
    claimed.map(async (delivery): Promise<void> => {
      const attempt = delivery.attempts + 1;
      const adapter = delivery.target && deps.adapters[delivery.target.channel];
      let result: DeliveryOutcome;
      if (!delivery.target) result = { outcome: "gone", detail: "the device or address is no longer there" };
      else if (
        delivery.target.channel === "web_push" &&
        !atPushService(delivery.target.endpoint, deps.rules.pushServices)
      )
        result = { outcome: "failed", detail: "the endpoint is not at a known push service" };
      else if (!adapter)
        result = { outcome: "failed", detail: `${delivery.target.channel} is not configured` };
      else
        result = await withinDeadline(adapter.send(delivery.target, delivery.message)).catch(
          (error: unknown) => ({ outcome: "retry" as const, detail: String(error) }),
        );
      const recorded = { deliveryId: delivery.deliveryId, attempt, outcome: result };
      answered.push(
        result.outcome === "retry" && attempt < deps.rules.maxAttempts
          ? {
              ...recorded,
              status: "pending",
              retryInSeconds: retryBackoffSeconds(attempt),
              goneDeviceId: null,
            }
          : {
              ...recorded,
              status: result.outcome === "sent" ? "sent" : result.outcome === "gone" ? "gone" : "failed",
              retryInSeconds: 0,
              goneDeviceId: result.outcome === "gone" ? delivery.deviceId : null,
            },
      );
    }),
  );
  // The stop's listener is this batch's own and goes with it (one per batch would pile up).
  let onStop: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => {
    if (stopping?.aborted) resolve();
    onStop = resolve;
    stopping?.addEventListener("abort", onStop, { once: true });
  });
  try {
    await Promise.race([sending, stopped]);
  } finally {
    if (onStop) stopping?.removeEventListener("abort", onStop);
  }
  await deps.store.record([...answered]);
  return claimed.length;
}
