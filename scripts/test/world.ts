// People and money on a running platform, for the whole-platform tests (faults, logs, paging):
// an admin, experts who are online, funded users — set up the way apps and staff do it, over
// HTTP through the edge (presence, which the edge reports for open sockets, over gRPC as the edge).
import { randomUUID } from "node:crypto";
import { createServiceClient } from "@parley/kit/grpc";
import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { type HttpCallOptions, httpClient, type Platform, type PlatformSecrets } from "@parley/testing";
import type { Test } from "tap";

export const PASSWORD = "a passphrase for the platform";

export interface Person {
  userId: string;
  email: string;
  token: string;
  refreshToken: string;
}

export function world(t: Test, platform: Platform, secrets: PlatformSecrets) {
  const http = httpClient(platform.httpUrl);
  /** A call that must answer `expected`; its body otherwise names what went wrong. */
  const ok = async (method: string, path: string, options: HttpCallOptions = {}, expected = 200) => {
    const response = await http.call(method, path, { timeoutMs: 15_000, ...options });
    if (response.status !== expected)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  };
  const auth = createServiceClient(AuthServiceService, { address: platform.grpc.auth });
  const edgeToken = async () =>
    (await auth.issueServiceToken({ serviceName: "edge", secret: secrets.services.edge })).accessToken;
  const users = createServiceClient(UserServiceService, {
    address: platform.grpc.user,
    credentials: edgeToken,
  });
  t.teardown(() => {
    auth.close();
    users.close();
  });

  const self = {
    call: http.call,
    ok,
    async register(displayName = "Platform Person"): Promise<Person> {
      const email = `person-${randomUUID()}@example.com`;
      const body = await ok("POST", "/v1/auth/register", {
        body: { email, password: PASSWORD, display_name: displayName },
      });
      return {
        userId: body.account.user_id,
        email,
        token: body.tokens.access_token,
        refreshToken: body.tokens.refresh_token,
      };
    },
    async login(identifier: string, password = PASSWORD): Promise<string> {
      return (await ok("POST", "/v1/auth/login", { body: { identifier, password } })).tokens.access_token;
    },
    admin: () => self.login(secrets.adminEmail, secrets.adminPassword),
    /** Staff credit on a person's wallet (GrantCredit), in minor units of INR. */
    async fund(userId: string, amountMinor: number) {
      await ok("POST", `/v1/wallets/${userId}:grantCredit`, {
        token: await self.admin(),
        body: { amount: { amount_minor: String(amountMinor), currency: "INR" }, request_id: randomUUID() },
      });
    },
    /** A service's own token, as each service asks auth for it (IssueServiceToken). */
    serviceToken: (service: keyof PlatformSecrets["services"]) =>
      auth.issueServiceToken({ serviceName: service, secret: secrets.services[service] }),
    /** The edge's presence report for someone with an open socket. */
    online: (userId: string) => users.reportPresence({ userId, online: true }),
    /** An expert (role by the admin, profile and availability by themselves), online. */
    async expert(ratePerMinute = 1000, displayName = "Platform Expert"): Promise<Person> {
      const person = await self.register(displayName);
      await ok("POST", `/v1/users/${person.userId}/role`, {
        token: await self.admin(),
        body: { role: "ROLE_EXPERT", reason: "an expert" },
      });
      const token = await self.login(person.email);
      await ok("PUT", `/v1/experts/${person.userId}/profile`, {
        token,
        body: {
          chat_rate: { amount_minor: String(ratePerMinute), currency: "INR" },
          call_rate: { amount_minor: String(ratePerMinute), currency: "INR" },
          max_concurrent_sessions: 5,
          specialisations: ["vedic"],
          languages: ["en"],
          experience_years: 5,
        },
      });
      await ok("POST", "/v1/me/availability", {
        token,
        body: { availability: "EXPERT_AVAILABILITY_AVAILABLE" },
      });
      await self.online(person.userId);
      return { ...person, token };
    },
    /** A chat the user requested and the expert accepted; its session id. */
    async chat(user: Person, expert: Person): Promise<string> {
      const requested = await ok("POST", "/v1/sessions", {
        token: user.token,
        body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
      });
      const sessionId: string = requested.session.session_id;
      await ok("POST", `/v1/sessions/${sessionId}:accept`, { token: expert.token, body: {} });
      return sessionId;
    },
    async say(person: Person, sessionId: string, text: string) {
      return ok("POST", `/v1/sessions/${sessionId}/messages`, {
        token: person.token,
        body: { kind: "MESSAGE_KIND_TEXT", text, client_msg_id: randomUUID() },
      });
    },
  };
  return self;
}
