import webpush from "web-push";
import type { DeliveryOutcome } from "../domain/model";
import type { DeliveryAdapter } from "../domain/ports";
import { transient } from "./http";

export interface VapidSettings {
  publicKey: string;
  privateKey: string;
  /** mailto: or https: contact for push services. */
  subject: string;
}

/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and an aes128gcm payload (RFC 8291): the
 * `web-push` library builds the encrypted request; it is sent with fetch, to endpoints the
 * delivery rules allow (DeliveryRules.pushServices). 404/410 mean the subscription is gone.
 */
export function webPushAdapter(vapid: VapidSettings, ttlSeconds = 3600): DeliveryAdapter {
  return {
    async send(target, message): Promise<DeliveryOutcome> {
      if (target.channel !== "web_push") return { outcome: "failed", detail: "not a web push target" };
      const payload = JSON.stringify({
        notification_id: message.notificationId,
        seq: message.seq.toString(),
        kind: message.kind,
        title: message.title,
        body: message.body,
        data: message.data,
      });
      const details = webpush.generateRequestDetails(
        { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
        payload,
        { vapidDetails: vapid, TTL: ttlSeconds, contentEncoding: "aes128gcm", urgency: "high" },
      );
      const response = await fetch(details.endpoint, {
        method: details.method,
        headers: details.headers as Record<string, string>,
        body: details.body ?? undefined,
        // A push service answers; it does not send us elsewhere (a redirect is a failure).
        redirect: "manual",
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) return { outcome: "sent" };
      const detail = `${response.status} ${(await response.text()).slice(0, 200)}`;
      if (response.status === 404 || response.status === 410) return { outcome: "gone", detail };
      return transient(response.status) ? { outcome: "retry", detail } : { outcome: "failed", detail };
    },
  };
}
