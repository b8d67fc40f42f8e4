import { randomUUID } from "node:crypto";
import { eventually } from "@parley/testing";
import type { Test } from "tap";
import { type Api, PASSWORD } from "./harness";
import { WsClient } from "./ws-client";

// People the platform tests act with: an online expert, a funded user, an active chat, staff.

export const RATE = 1000;

/** The harness's expert, online through a WebSocket (presence) and seen so by discovery. */
export async function createExpert(t: Test, api: Api) {
  const expert = await api.expert({ maxConcurrentSessions: 2 });
  const socket = await WsClient.connect(api.url);
  t.teardown(() => socket.close());
  await socket.authenticate(expert.token);
  await eventually(
    () => api.call("GET", `/v1/experts/${expert.userId}`, {}),
    (r) => r.body.expert?.availability === "EXPERT_AVAILABILITY_AVAILABLE",
  );
  return { ...expert, socket };
}

/** A person with money in their wallet (the harness's signed development-provider top-up). */
export async function fundedUser(api: Api, amountMinor: number) {
  const user = await api.register();
  await api.topUp(user.accessToken, amountMinor);
  return user;
}

/**
 * A chat requested by the user and accepted by the expert: active, metering. The request is
 * retried while the expert still reads as offline (until their socket's first presence report lands).
 */
export async function activeChat(
  t: Test,
  api: Api,
  userToken: string,
  expertId: string,
  expertToken: string,
) {
  const requested = await eventually(
    () =>
      api.call("POST", "/v1/sessions", {
        token: userToken,
        body: { expert_id: expertId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
      }),
    (response) => response.status === 200,
  );
  t.equal(requested.status, 200, JSON.stringify(requested.body));
  const sessionId: string = requested.body.session.session_id;
  const accepted = await api.call("POST", `/v1/sessions/${sessionId}:accept`, {
    token: expertToken,
    body: {},
  });
  t.equal(accepted.body.session?.status, "SESSION_STATUS_ACTIVE", JSON.stringify(accepted.body));
  return sessionId;
}

/** A person given a staff role by the admin, signed in again so their token carries it. */
export async function staff(t: Test, api: Api, role: "ROLE_SUPPORT" | "ROLE_MODERATOR" | "ROLE_ADMIN") {
  const admin = await api.adminToken();
  const account = await api.register();
  const set = await api.call("POST", `/v1/users/${account.userId}/role`, {
    token: admin,
    body: { role, reason: "joins staff" },
  });
  t.equal(set.status, 200, JSON.stringify(set.body));
  return { userId: account.userId, token: await api.login(account.email, PASSWORD) };
}
