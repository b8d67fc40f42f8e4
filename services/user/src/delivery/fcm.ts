import { importPKCS8, SignJWT } from "jose";
import type { DeliveryOutcome } from "../domain/model";
import type { DeliveryAdapter } from "../domain/ports";
import { transient } from "./http";

export interface FcmSettings {
  /** https://fcm.googleapis.com in production; a stand-in in tests. */
  baseUrl: string;
  projectId: string;
  /** The service account JSON (its token_uri is where OAuth tokens come from). */
  serviceAccountJson: string;
}

/**
 * FCM HTTP v1 (`POST /v1/projects/{project}/messages:send`) with an OAuth 2 access token
 * from the service account: Google's JWT bearer grant (RFC 7523) — an RS256 assertion signed
 * with the account's key, exchanged at its `token_uri`, cached until a minute before it
 * expires. 404 / UNREGISTERED means the token is gone.
 */
export function fcmAdapter(settings: FcmSettings): DeliveryAdapter {
  const account = JSON.parse(settings.serviceAccountJson) as {
    client_email: string;
    private_key: string;
    token_uri?: string;
  };
  const tokenUri = account.token_uri ?? "https://oauth2.googleapis.com/token";
  let cached: { token: string; until: number } | undefined;
  const accessToken = async () => {
    if (cached && Date.now() < cached.until) return cached.token;
    const assertion = await new SignJWT({ scope: "https://www.googleapis.com/auth/firebase.messaging" })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(account.client_email)
      .setAudience(tokenUri)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(await importPKCS8(account.private_key, "RS256"));
    const response = await fetch(tokenUri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`FCM token exchange failed: ${response.status}`);
    const body = (await response.json()) as { access_token: string; expires_in: number };
    cached = { token: body.access_token, until: Date.now() + (body.expires_in - 60) * 1000 };
    return cached.token;
  };
  const url = `${settings.baseUrl.replace(/\/$/, "")}/v1/projects/${settings.projectId}/messages:send`;
  return {
    async send(target, message): Promise<DeliveryOutcome> {
      if (target.channel !== "mobile_push") return { outcome: "failed", detail: "not an FCM target" };
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${await accessToken()}`, "content-type": "application/json" },
        body: JSON.stringify({
          message: {
            token: target.token,
            notification: { title: message.title, body: message.body },
            data: {
              ...message.data,
              notification_id: message.notificationId,
              kind: message.kind,
              seq: message.seq.toString(),
            },
            android: { priority: message.kind === "request_waiting" ? "HIGH" : "NORMAL" },
          },
        }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) return { outcome: "sent" };
      const text = await response.text();
      const detail = `${response.status} ${text.slice(0, 300)}`;
      if (response.status === 404 || text.includes("UNREGISTERED")) return { outcome: "gone", detail };
      return transient(response.status) ? { outcome: "retry", detail } : { outcome: "failed", detail };
    },
  };
}
