import { randomUUID } from "node:crypto";
import { startPushReceiver, startSmtpReceiver } from "@parley/testing";
import t from "tap";
import { type Api, startPlatform } from "./harness";
import { type Frame, WsClient } from "./ws-client";

const RATE = 1000;

const notifications = (ws: WsClient) =>
  ws.frames.filter((f: Frame) => f.type === "notification").map((f: Frame) => f.notification);

async function watchMe(api: Api, token: string, afterSeq = "0") {
  const ws = await WsClient.connect(api.url);
  await ws.authenticate(token);
  ws.send({ type: "watch_me", id: 1, after_seq: afterSeq });
  await ws.waitFor((f) => f.type === "watching" && f.id === 1);
  return ws;
}

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test("notifications through the edge only: live channel, inbox, resume, email, web push", async (t) => {
  const smtp = await startSmtpReceiver(t);
  const pushService = await startPushReceiver(t);
  const api = await startPlatform(t, {
    session: { MINUTE_SECONDS: "2", METERING_INTERVAL_MS: "200", MIN_MINUTES: "2" },
    // The push service stand-in is on loopback.
    user: { SMTP_URL: smtp.url, WEB_PUSH_SERVICES: "http://127.0.0.1" },
  });
  const expert = await api.expert();
  const expertWs = await watchMe(api, expert.token);
  t.teardown(() => expertWs.close());

  const user = await api.register();
  const userWs = await watchMe(api, user.accessToken);
  // The user's browser subscribes to Web Push with the VAPID key the settings give.
  const settings = await api.call("GET", "/v1/me/notification-settings", { token: user.accessToken });
  t.match(settings.body.vapid_public_key, /^[A-Za-z0-9_-]{87}$/);
  const browser = pushService.subscriber();
  const device = await api.call("POST", "/v1/me/devices", {
    token: user.accessToken,
    body: {
      channel: "DELIVERY_CHANNEL_WEB_PUSH",
      endpoint: `${pushService.url}/${user.userId}`,
      p256dh: browser.p256dh,
      auth: browser.auth,
    },
  });
  t.equal(device.status, 200, JSON.stringify(device.body));
  await api.topUp(user.accessToken, RATE * 5);
  const credited = await userWs.waitFor(
    (f) => f.type === "notification" && f.notification.kind === "NOTIFICATION_KIND_TOP_UP_CREDITED",
  );
  t.equal(credited.notification.body, "₹50.00 was added to your wallet.");
  const mail = await until(() => smtp.mails.find((m) => m.includes(user.email)), "email");
  t.match(mail, /Subject: Top-up received/, "the top-up webhook produced an email at the SMTP server");
  const push = await until(() => pushService.pushes[0]?.body, "web push");
  const pushed = JSON.parse(browser.decrypt(push));
  t.match(
    pushed,
    { kind: "top_up_credited", title: "Top-up received", seq: credited.notification.seq },
    "and a web push the browser's keys decrypt",
  );

  // Email turned off: the next top-up is in the inbox and on the socket, and sends no email.
  const off = await api.call("PATCH", "/v1/me", {
    token: user.accessToken,
    body: {
      preferences: {
        locale: "en-IN",
        time_zone: "Asia/Kolkata",
        email_notifications: false,
        push_notifications: true,
      },
    },
  });
  t.equal(off.status, 200, JSON.stringify(off.body));
  const mailsBefore = smtp.mails.length;
  const second = await api.call("POST", "/v1/me/topups", {
    token: user.accessToken,
    body: { amount: { amount_minor: String(RATE), currency: "INR" }, request_id: randomUUID() },
  });
  await api.webhook({
    event_id: `evt_${randomUUID()}`,
    payment_id: second.body.payment.payment_id,
    status: "succeeded",
    amount_minor: RATE,
    currency: "INR",
  });
  await userWs.waitFor(
    (f) => f.type === "notification" && f.notification.data.payment_id === second.body.payment.payment_id,
  );
  await until(() => (pushService.pushes.length >= 2 ? true : undefined), "second web push");
  t.equal(smtp.mails.length, mailsBefore, "no email once email notifications are off");

  const started = Date.now();
  const requested = await api.call("POST", "/v1/sessions", {
    token: user.accessToken,
    body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
  });
  t.equal(requested.status, 200, JSON.stringify(requested.body));
  const sessionId: string = requested.body.session.session_id;
  const waiting = await expertWs.waitFor(
    (f) => f.type === "notification" && f.notification.kind === "NOTIFICATION_KIND_REQUEST_WAITING",
  );
  const latency = Date.now() - started;
  t.ok(latency < 1000, `the expert's socket had the request ${latency} ms after POST /v1/sessions was sent`);
  t.match(waiting.notification.data, {
    session_id: sessionId,
    session_kind: "chat",
    position: "1",
    user_id: user.userId,
  });
  t.match(waiting.notification.body, /Test Person is waiting for a chat with you/);

  await api.call("POST", `/v1/sessions/${sessionId}:accept`, { token: expert.token, body: {} });
  await userWs.waitFor(
    (f) => f.type === "notification" && f.notification.kind === "NOTIFICATION_KIND_SESSION_ACCEPTED",
  );

  // The user's socket drops; notifications stored meanwhile come back on resume, once each.
  const seen = notifications(userWs).map((n: Frame) => Number(n.seq));
  userWs.close();
  await api.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.accessToken, body: {} });
  const inbox = await api.call("GET", "/v1/me/notifications", { token: user.accessToken });
  t.equal(inbox.status, 200);
  const ended = inbox.body.notifications.find(
    (n: Frame) => n.kind === "NOTIFICATION_KIND_SESSION_ENDED" || undefined,
  );
  const resumed = await watchMe(api, user.accessToken, String(Math.max(...seen)));
  t.teardown(() => resumed.close());
  const endedLive = await resumed.waitFor(
    (f) => f.type === "notification" && f.notification.kind === "NOTIFICATION_KIND_SESSION_ENDED",
  );
  t.match(endedLive.notification.data, { session_id: sessionId, end_reason: "user_ended" });
  t.ok(ended === undefined || ended.notification_id === endedLive.notification.notification_id);
  const all = [...seen, ...notifications(resumed).map((n: Frame) => Number(n.seq))];
  t.same(
    all,
    Array.from({ length: all.length }, (_, i) => i + 1),
    "every seq once, in order, across the drop",
  );

  const list = await api.call("GET", "/v1/me/notifications?unread_only=true", { token: user.accessToken });
  t.equal(list.body.unread_count, String(all.length));
  const read = await api.call("POST", "/v1/me/notifications:readAll", { token: user.accessToken, body: {} });
  t.equal(read.status, 200);
  t.equal(read.body.unread_count, "0");
});
