import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "@parley/kit/log";
import { DeliveryChannel, NotificationKind } from "@parley/proto/parley/user/v1/user";
import { startPushReceiver, startSmsReceiver, startSmtpReceiver } from "@parley/testing";
import t from "tap";
import webpush from "web-push";
import { emailAdapter } from "../src/delivery/email";
import { fcmAdapter } from "../src/delivery/fcm";
import { smsAdapter } from "../src/delivery/sms";
import { webPushAdapter } from "../src/delivery/web-push";
import { DEFAULT_DELIVERY_RULES } from "../src/domain/delivery";
import { failure, startHarness } from "./harness";

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server.address() as AddressInfo;
};
const bodyOf = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
  });

const { mails, url: smtpUrl } = await startSmtpReceiver(t);
// A push service endpoint: the test decrypts each payload with the subscription's keys.
const pushService = await startPushReceiver(t);
const subscriber = pushService.subscriber();

/**
 * FCM's answer to a bad token here holds a NUL (Postgres text refuses it) and an emoji across
 * the adapter's 300-character cut (half a surrogate pair, which jsonb refuses).
 */
const refusal = `{"error":"INVALID_ARGUMENT\0${"x".repeat(272)}\u{1F600}"}`;
// FCM stand-in: OAuth token endpoint (checks the signed JWT assertion) and messages:send (checks the bearer and shape).
const fcmRequests: Array<{
  authorization: string | undefined;
  body: { message: { token: string; notification: { title: string } } };
}> = [];
const fcmKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const fcm = createServer(async (request, response) => {
  const body = (await bodyOf(request)).toString();
  if (request.url === "/token") {
    const form = new URLSearchParams(body);
    const assertion = form.get("assertion") ?? "";
    const [header, claims, signature] = assertion.split(".");
    const { createVerify } = await import("node:crypto");
    const valid =
      form.get("grant_type") === "urn:ietf:params:oauth:grant-type:jwt-bearer" &&
      createVerify("RSA-SHA256")
        .update(`${header}.${claims}`)
        .verify(fcmKeys.publicKey, signature!, "base64url");
    response.writeHead(valid ? 200 : 401, { "content-type": "application/json" });
    return response.end(
      JSON.stringify(valid ? { access_token: "fcm-access", expires_in: 3600, token_type: "Bearer" } : {}),
    );
  }
  const parsed = JSON.parse(body);
  fcmRequests.push({ authorization: request.headers.authorization, body: parsed });
  if (
    request.url !== "/v1/projects/parley-test/messages:send" ||
    request.headers.authorization !== "Bearer fcm-access"
  )
    return response.writeHead(401).end();
  if (parsed.message.token.startsWith("gone-token"))
    return response
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ error: { status: "NOT_FOUND", details: [{ errorCode: "UNREGISTERED" }] } }));
  if (parsed.message.token.startsWith("bad-token"))
    return response.writeHead(400, { "content-type": "application/json" }).end(refusal);
  response
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify({ name: "projects/parley-test/messages/1" }));
});
const fcmPort = (await listen(fcm)).port;

// SMS stand-in in Twilio's Messages API shape: Basic auth, form fields; the first answer is a 503.
const sms = await startSmsReceiver(t);
sms.failNext(1);

const vapid = webpush.generateVAPIDKeys();
const log = createLogger({ service: "user", level: "silent" });
const h = await startHarness(t, {
  delivery: {
    adapters: {
      email: emailAdapter({
        smtpUrl,
        from: "Parley <no-reply@parley.test>",
        log,
      }),
      web_push: webPushAdapter({ ...vapid, subject: "mailto:ops@parley.test" }),
      mobile_push: fcmAdapter({
        baseUrl: `http://127.0.0.1:${fcmPort}`,
        projectId: "parley-test",
        serviceAccountJson: JSON.stringify({
          type: "service_account",
          client_email: "push@parley-test.iam.gserviceaccount.com",
          private_key: fcmKeys.privateKey.export({ type: "pkcs8", format: "pem" }),
          token_uri: `http://127.0.0.1:${fcmPort}/token`,
        }),
      }),
      sms: smsAdapter({
        baseUrl: sms.url,
        accountSid: sms.account.sid,
        authToken: sms.account.authToken,
        from: "+15550001111",
      }),
    },
    rules: {
      ...DEFAULT_DELIVERY_RULES,
      perHour: { web_push: 60, mobile_push: 60, email: 20, sms: 2 },
      securityPerHour: { web_push: 120, mobile_push: 120, email: 40, sms: 4 },
      maxAttempts: 3,
      // The push service stand-in, on loopback.
      pushServices: ["http://127.0.0.1"],
    },
    vapidPublicKey: vapid.publicKey,
    pollMs: 60_000,
  },
});
const worker = h.service.deliveryWorker!;
/**
 * Lets the worker (woken by Notify) finish: nothing pending is due or in flight (a claim pushes
 * next_attempt_at a lease ahead); `retries` first makes the backed-off retries due now.
 */
const drain = async (retries = false) => {
  if (retries)
    await h.sql`update users.deliveries set next_attempt_at = now()
      where status = 'pending' and attempts > 0 and next_attempt_at < now() + interval '30 seconds'`;
  for (let i = 0; i < 500; i++) {
    worker.nudge();
    const [row] = await h.sql`select count(*)::int as n from users.deliveries where status = 'pending'
      and (next_attempt_at <= now() or next_attempt_at > now() + interval '30 seconds')`;
    if (row!.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("deliveries did not settle");
};
const deliveries = (userId: string) =>
  h.sql`select channel, status, attempts from users.deliveries where user_id = ${userId} order by channel, status`;

t.test("every channel on its real protocol; gone devices removed; attempts recorded", async (t) => {
  const person = await h.person();
  await h.client.ensureProfile(
    { userId: person.userId, displayName: "Asha", email: "asha@example.com", phone: "+919800000001" },
    h.as.auth,
  );
  await h.client.registerDevice(
    {
      channel: DeliveryChannel.DELIVERY_CHANNEL_WEB_PUSH,
      endpoint: `${pushService.url}/asha`,
      p256dh: subscriber.p256dh,
      auth: subscriber.auth,
      fcmToken: "",
    },
    person.call,
  );
  for (const token of ["good-token-0000", "gone-token-0000"])
    await h.client.registerDevice(
      {
        channel: DeliveryChannel.DELIVERY_CHANNEL_MOBILE_PUSH,
        endpoint: "",
        p256dh: "",
        auth: "",
        fcmToken: token,
      },
      person.call,
    );
  const settings = await h.client.getNotificationSettings({}, person.call);
  t.equal(settings.vapidPublicKey, vapid.publicKey);
  t.equal(settings.devices.length, 3);

  await h.client.notify(
    {
      eventId: "login-1",
      userId: person.userId,
      kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN,
      data: { ip: "203.0.113.7", user_agent: "Firefox" },
    },
    h.as.auth,
  );
  await drain();

  const mail = mails.find((m) => m.includes("asha@example.com"));
  t.ok(mail, "an email reached the SMTP server");
  t.match(mail, /Subject: New sign-in/);
  t.match(mail, /Content-Type: text\/plain/);
  t.match(mail, /Content-Type: text\/html/);

  const push = pushService.pushes.find((p) => p.headers["content-encoding"] === "aes128gcm");
  t.match(push?.headers.authorization, /^vapid t=.+, k=/, "VAPID authorisation");
  const decrypted = JSON.parse(subscriber.decrypt(push!.body));
  t.match(
    decrypted,
    { kind: "new_sign_in", title: "New sign-in", data: { ip: "203.0.113.7" } },
    "decrypted with the subscription's keys",
  );

  t.same(
    fcmRequests.map((r) => [r.authorization, r.body.message.token, r.body.message.notification.title]).sort(),
    [
      ["Bearer fcm-access", "gone-token-0000", "New sign-in"],
      ["Bearer fcm-access", "good-token-0000", "New sign-in"],
    ],
  );
  const left = await h.client.getNotificationSettings({}, person.call);
  t.equal(left.devices.length, 2, "the token FCM called UNREGISTERED is removed");

  t.equal(sms.requests.length, 1);
  t.same(
    [sms.requests[0]!.form.get("To"), sms.requests[0]!.form.get("From")],
    ["+919800000001", "+15550001111"],
  );
  await drain(true);
  t.equal(sms.requests.length, 2, "a 503 is tried again");
  t.match(sms.requests[1]!.form.get("Body"), /^New sign-in: /);

  t.same(await deliveries(person.userId), [
    { channel: "email", status: "sent", attempts: 1 },
    { channel: "mobile_push", status: "gone", attempts: 1 },
    { channel: "mobile_push", status: "sent", attempts: 1 },
    { channel: "sms", status: "sent", attempts: 2 },
    { channel: "web_push", status: "sent", attempts: 1 },
  ]);
  const [smsAttempts] =
    await h.sql`select array_agg(outcome order by attempt) as outcomes from users.delivery_attempts a
    join users.deliveries d using (delivery_id) where d.user_id = ${person.userId} and d.channel = 'sms'`;
  t.same(smsAttempts!.outcomes, ["retry", "sent"]);

  const removed = await h.client.forgetLoginSession(
    { loginSessionId: left.devices[0]!.loginSessionId },
    h.as.auth,
  );
  t.equal(removed.removedCount, 2, "logout removes the session's devices");
});

t.test(
  "Web Push endpoints only at a push service; at most 10 devices a person, the oldest replaced",
  async (t) => {
    const person = await h.person();
    const webPush = (endpoint: string) =>
      h.client.registerDevice(
        {
          channel: DeliveryChannel.DELIVERY_CHANNEL_WEB_PUSH,
          endpoint,
          p256dh: subscriber.p256dh,
          auth: subscriber.auth,
          fcmToken: "",
        },
        person.call,
      );
    for (const endpoint of [
      "http://169.254.169.254/latest/meta-data",
      "http://localhost:5432/",
      "https://fcm.googleapis.com.attacker.example/send/x",
      "https://attacker.example/fcm.googleapis.com/send/x",
      "https://user:pass@fcm.googleapis.com/send/x",
      "https://127.0.0.1/push",
    ]) {
      const refused = await failure(webPush(endpoint));
      t.equal(refused.reason, "VALIDATION_FAILED", endpoint);
      t.equal(refused.fieldViolations?.[0]?.field, "endpoint");
    }
    const pushed = pushService.pushes.length;
    const first = await webPush(`${pushService.url}/device-0`);
    for (let i = 1; i <= 10; i++) {
      h.clock.advanceSeconds(1);
      await webPush(`${pushService.url}/device-${i}`);
    }
    const { devices } = await h.client.getNotificationSettings({}, person.call);
    t.equal(devices.length, 10, "ten kept");
    t.notOk(
      devices.some((d) => d.deviceId === first.device!.deviceId),
      "the oldest made room for the newest",
    );

    // A device stored before the rule (or the list changed since) is never sent to.
    await h.sql`update users.devices set address = 'http://169.254.169.254/latest/' || device_id where user_id = ${person.userId}`;
    await h.client.notify(
      {
        eventId: `ssrf-${person.userId}`,
        userId: person.userId,
        kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN,
        data: { ip: "203.0.113.8", user_agent: "Firefox" },
      },
      h.as.auth,
    );
    await drain();
    t.equal(pushService.pushes.length, pushed, "nothing was sent anywhere");
    const outcomes = await h.sql`select distinct a.outcome, a.detail from users.delivery_attempts a
    join users.deliveries d using (delivery_id) where d.user_id = ${person.userId} and d.channel = 'web_push'`;
    t.same(outcomes, [{ outcome: "failed", detail: "the endpoint is not at a known push service" }]);
  },
);

t.test("one batch's outcomes all recorded: sent, gone, failed and a retry", async (t) => {
  const person = await h.person();
  await h.client.ensureProfile(
    { userId: person.userId, displayName: "Mira", email: "mira@example.com", phone: "+919800000003" },
    h.as.auth,
  );
  for (const token of ["good-token-1111", "gone-token-1111", "bad-token-1111"])
    await h.client.registerDevice(
      {
        channel: DeliveryChannel.DELIVERY_CHANNEL_MOBILE_PUSH,
        endpoint: "",
        p256dh: "",
        auth: "",
        fcmToken: token,
      },
      person.call,
    );
  sms.failNext(1);
  const requested = sms.requests.length;
  await h.client.notify(
    {
      eventId: "login-batch",
      userId: person.userId,
      kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN,
      data: { ip: "203.0.113.9", user_agent: "Safari" },
    },
    h.as.auth,
  );
  await drain();

  t.equal(sms.requests.length, requested + 1, "the SMS was tried once (a 503)");
  const rows = await h.sql`select d.channel, coalesce(dev.address, '') as token, d.status, d.attempts,
      d.last_error, d.sent_at is not null as sent, d.next_attempt_at > now() as later,
      a.attempt, a.outcome, a.detail
    from users.deliveries d join users.delivery_attempts a using (delivery_id)
    left join users.devices dev on dev.device_id = d.device_id
    where d.user_id = ${person.userId} order by d.channel, d.status`;
  t.match(
    rows,
    [
      {
        channel: "email",
        status: "sent",
        attempts: 1,
        last_error: null,
        sent: true,
        attempt: 1,
        outcome: "sent",
        detail: "",
      },
      {
        channel: "mobile_push",
        token: "bad-token-1111",
        status: "failed",
        attempts: 1,
        sent: false,
        outcome: "failed",
        detail: `400 ${refusal.slice(0, 299).replace("\0", "")}\uFFFD`,
      },
      {
        channel: "mobile_push",
        token: "",
        status: "gone",
        attempts: 1,
        sent: false,
        outcome: "gone",
        detail: /^404 /,
      },
      {
        channel: "mobile_push",
        token: "good-token-1111",
        status: "sent",
        attempts: 1,
        sent: true,
        outcome: "sent",
      },
      {
        channel: "sms",
        status: "pending",
        attempts: 1,
        last_error: /^503/,
        sent: false,
        later: true,
        outcome: "retry",
      },
    ],
    "every delivery of the batch has its attempt row and its status",
  );
  t.equal(rows.length, 5, "one attempt each");
  t.same(
    (await h.sql`select address from users.devices where user_id = ${person.userId} order by address`).map(
      (r) => r.address,
    ),
    ["bad-token-1111", "good-token-1111"],
    "the device FCM forgot is removed, the others stay",
  );

  await drain(true);
  t.same(
    (
      await h.sql`select a.outcome from users.delivery_attempts a join users.deliveries d using (delivery_id)
        where d.user_id = ${person.userId} and d.channel = 'sms' order by a.attempt`
    ).map((r) => r.outcome),
    ["retry", "sent"],
    "the retry is sent once due",
  );
});

t.test("security notices pass the ordinary limit, up to a limit of their own", async (t) => {
  const person = await h.person();
  await h.client.ensureProfile(
    { userId: person.userId, displayName: "Dev", email: "", phone: "+919800000003" },
    h.as.auth,
  );
  for (let i = 0; i < 6; i++)
    await h.client.notify(
      {
        eventId: `signin-${person.userId}-${i}`,
        userId: person.userId,
        kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN,
        data: { device: `Firefox ${i}` },
      },
      h.as.auth,
    );
  const sms =
    await h.sql`select status from users.deliveries where user_id = ${person.userId} and channel = 'sms'`;
  t.same(
    sms.map((r) => (r.status === "rate_limited" ? "rate_limited" : "sent or due")).sort(),
    ["rate_limited", "rate_limited", "sent or due", "sent or due", "sent or due", "sent or due"],
    "four sign-in SMS an hour (twice the ordinary two), not one per sign-in without end",
  );
});

t.test("preferences per channel and kind; security always on; per-person rate limit", async (t) => {
  const person = await h.person();
  await h.client.ensureProfile(
    { userId: person.userId, displayName: "Ravi", email: "ravi@example.com", phone: "+919800000002" },
    h.as.auth,
  );
  const off = await failure(
    h.client.updateNotificationSettings(
      {
        preferences: [
          {
            channel: DeliveryChannel.DELIVERY_CHANNEL_EMAIL,
            kind: NotificationKind.NOTIFICATION_KIND_PASSWORD_CHANGED,
            enabled: false,
          },
        ],
      },
      person.call,
    ),
  );
  t.equal(off.reason, "SECURITY_NOTICES_ALWAYS_ON");
  await h.client.updateNotificationSettings(
    {
      preferences: [
        {
          channel: DeliveryChannel.DELIVERY_CHANNEL_EMAIL,
          kind: NotificationKind.NOTIFICATION_KIND_TOP_UP_CREDITED,
          enabled: false,
        },
      ],
    },
    person.call,
  );
  const notify = (eventId: string, kind: NotificationKind) =>
    h.client.notify(
      { eventId, userId: person.userId, kind, data: { amount_minor: "100", currency: "INR" } },
      h.as.billing,
    );
  await notify("pay-1", NotificationKind.NOTIFICATION_KIND_TOP_UP_CREDITED);
  await notify("ref-1", NotificationKind.NOTIFICATION_KIND_REFUND_ISSUED);
  t.same(
    (await deliveries(person.userId)).map((d) => d.channel),
    ["email"],
    "top-up email turned off; the refund's still goes",
  );
  const inbox = await h.client.listNotifications(
    { unreadOnly: false, pageSize: 10, pageToken: "" },
    person.call,
  );
  t.equal(inbox.notifications.length, 2, "the inbox keeps both");

  for (let i = 0; i < 3; i++)
    await h.client.notify(
      {
        eventId: `req-${i}`,
        userId: person.userId,
        kind: NotificationKind.NOTIFICATION_KIND_REQUEST_WAITING,
        data: {},
      },
      h.as.session,
    );
  const sms =
    await h.sql`select status from users.deliveries where user_id = ${person.userId} and channel = 'sms' order by created_at, status`;
  t.same(
    sms.map((r) => (r.status === "rate_limited" ? "rate_limited" : "sent or due")).sort(),
    ["rate_limited", "sent or due", "sent or due"],
    "a burst becomes at most the hourly SMS limit",
  );
  // An hour on for the two that went: the one refused does not count against the next hour.
  await h.sql`update users.deliveries set created_at = created_at - interval '61 minutes'
    where user_id = ${person.userId} and channel = 'sms' and status <> 'rate_limited'`;
  for (const eventId of ["req-3", "req-4"])
    await h.client.notify(
      { eventId, userId: person.userId, kind: NotificationKind.NOTIFICATION_KIND_REQUEST_WAITING, data: {} },
      h.as.session,
    );
  const all =
    await h.sql`select status from users.deliveries where user_id = ${person.userId} and channel = 'sms'`;
  t.same(
    all.map((r) => (r.status === "rate_limited" ? "rate_limited" : "sent or due")).sort(),
    ["rate_limited", "sent or due", "sent or due", "sent or due", "sent or due"],
    "the next hour sends its two: what was refused is not counted as sent",
  );
});
