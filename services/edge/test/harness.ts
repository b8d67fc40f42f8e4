import { randomUUID } from "node:crypto";
import {
  type HttpResponse,
  httpClient,
  launchTestPlatform,
  type Platform,
  type PlatformSecrets,
} from "@parley/testing";
import type { Test } from "tap";
import { signPayload } from "../src/webhooks/payments";

export type ApiResponse = HttpResponse;

export interface Api {
  platform: Platform;
  secrets: PlatformSecrets;
  /** The platform's database (for checks the API cannot make, such as what the database refuses). */
  databaseUrl: string;
  url: string;
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** Registers a person through the edge; returns the user id and tokens. */
  register(
    email?: string,
  ): Promise<{ userId: string; email: string; accessToken: string; refreshToken: string }>;
  login(email: string, password: string): Promise<string>;
  adminToken(): Promise<string>;
  /**
   * An expert: registered, promoted by the admin, with a profile (chat rate `chatRateMinor` INR,
   * call rate 1500, specialisation "vedic") and available; online only once they open a socket.
   */
  expert(options?: {
    chatRateMinor?: number;
    maxConcurrentSessions?: number;
  }): Promise<{ userId: string; email: string; token: string }>;
  /** Money in `token`'s wallet through a top-up and the development provider's signed webhook. */
  topUp(token: string, amountMinor: number): Promise<void>;
  /** Sends a payment-provider event signed like the provider would. */
  webhook(event: unknown, options?: { secret?: string; timestamp?: number }): Promise<ApiResponse>;
}

export const PASSWORD = "a passphrase for tests";
let counter = 0;
export const uniqueEmail = () => `edge-${process.pid}-${Date.now()}-${++counter}@example.com`;

/** The whole platform as processes on one fresh database, reached only through the edge. */
export async function startPlatform(
  t: Test,
  env: Parameters<typeof launchTestPlatform>[1] = {},
): Promise<Api> {
  const { platform, secrets, databaseUrl } = await launchTestPlatform(t, {
    ...env,
    auth: { OUTBOX_INTERVAL_MS: "100", ...env.auth },
  });
  const { call } = httpClient(platform.httpUrl);
  const api: Api = {
    platform,
    secrets,
    databaseUrl,
    url: platform.httpUrl,
    call,
    async register(email = uniqueEmail()) {
      const { status, body } = await call("POST", "/v1/auth/register", {
        body: { email, password: PASSWORD, display_name: "Test Person" },
      });
      if (status !== 200) throw new Error(`register failed: ${status} ${JSON.stringify(body)}`);
      return {
        userId: body.account.user_id,
        email,
        accessToken: body.tokens.access_token,
        refreshToken: body.tokens.refresh_token,
      };
    },
    async login(email, password) {
      const { status, body } = await call("POST", "/v1/auth/login", {
        body: { identifier: email, password },
      });
      if (status !== 200) throw new Error(`login failed: ${status} ${JSON.stringify(body)}`);
      return body.tokens.access_token;
    },
    adminToken: () => api.login(secrets.adminEmail, secrets.adminPassword),
    async expert(options = {}) {
      const admin = await api.adminToken();
      const account = await api.register();
      const ok = (what: string, response: ApiResponse) => {
        if (response.status !== 200)
          throw new Error(`${what} failed: ${response.status} ${JSON.stringify(response.body)}`);
      };
      ok(
        "promotion",
        await call("POST", `/v1/users/${account.userId}/role`, {
          token: admin,
          body: { role: "ROLE_EXPERT", reason: "an expert" },
        }),
      );
      const token = await api.login(account.email, PASSWORD);
      ok(
        "expert profile",
        await call("PUT", `/v1/experts/${account.userId}/profile`, {
          token,
          body: {
            chat_rate: { amount_minor: String(options.chatRateMinor ?? 1000), currency: "INR" },
            call_rate: { amount_minor: "1500", currency: "INR" },
            max_concurrent_sessions: options.maxConcurrentSessions ?? 1,
            specialisations: ["vedic"],
            languages: ["en"],
            experience_years: 7,
            bio: "Reads charts.",
          },
        }),
      );
      ok(
        "availability",
        await call("POST", "/v1/me/availability", {
          token,
          body: { availability: "EXPERT_AVAILABILITY_AVAILABLE" },
        }),
      );
      return { userId: account.userId, email: account.email, token };
    },
    async topUp(token, amountMinor) {
      const topUp = await call("POST", "/v1/me/topups", {
        token,
        body: { amount: { amount_minor: String(amountMinor), currency: "INR" }, request_id: randomUUID() },
      });
      if (topUp.status !== 200)
        throw new Error(`top-up failed: ${topUp.status} ${JSON.stringify(topUp.body)}`);
      const paid = await api.webhook({
        event_id: `evt_${randomUUID()}`,
        payment_id: topUp.body.payment.payment_id,
        status: "succeeded",
        amount_minor: amountMinor,
        currency: "INR",
      });
      if (paid.body.credited !== true) throw new Error(`top-up not credited: ${JSON.stringify(paid.body)}`);
    },
    webhook(event, options = {}) {
      const raw = JSON.stringify(event);
      const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
      return call("POST", "/v1/webhooks/payments/development", {
        body: raw,
        headers: { "parley-signature": signPayload(options.secret ?? secrets.webhookSecret, timestamp, raw) },
      });
    },
  };
  return api;
}
