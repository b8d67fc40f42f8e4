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
