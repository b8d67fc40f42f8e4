import type { DeliveryOutcome } from "../domain/model";
import type { DeliveryAdapter } from "../domain/ports";
import { transient } from "./http";

export interface SmsSettings {
  /** https://api.twilio.com in production; a stand-in in tests. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** The sending number or messaging service, E.164. */
  from: string;
}

/**
 * SMS through Twilio's Messages API shape: `POST /2010-04-01/Accounts/{sid}/Messages.json`,
 * form-encoded To, From, Body, HTTP Basic auth with the account SID and auth token.
 */
export function smsAdapter(settings: SmsSettings): DeliveryAdapter {
  const url = `${settings.baseUrl.replace(/\/$/, "")}/2010-04-01/Accounts/${settings.accountSid}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString("base64")}`;
  return {
    async send(target, message): Promise<DeliveryOutcome> {
      if (target.channel !== "sms") return { outcome: "failed", detail: "not an SMS target" };
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          To: target.phone,
          From: settings.from,
          Body: `${message.title}: ${message.body}`.slice(0, 1600),
        }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) return { outcome: "sent" };
      const detail = `${response.status} ${(await response.text()).slice(0, 300)}`;
      return transient(response.status) ? { outcome: "retry", detail } : { outcome: "failed", detail };
    },
  };
}
