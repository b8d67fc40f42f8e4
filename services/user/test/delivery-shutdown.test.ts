import { createServer, type Socket } from "node:net";
import { createLogger } from "@parley/kit/log";
import { NotificationKind } from "@parley/proto/parley/user/v1/user";
import { startSmsReceiver } from "@parley/testing";
import t from "tap";
import { emailAdapter } from "../src/delivery/email";
import { smsAdapter } from "../src/delivery/sms";
import { DEFAULT_DELIVERY_RULES } from "../src/domain/delivery";
import { startHarness } from "./harness";

// An SMTP server that takes the connection and never greets: an email send that hangs (until
// nodemailer's greeting timeout) beside an SMS that is answered at once, in one batch.
const sockets = new Set<Socket>();
const silent = createServer((socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});
await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
t.teardown(() => {
  for (const socket of sockets) socket.destroy();
  return new Promise<void>((resolve) => silent.close(() => resolve()));
});
const smtpUrl = `smtp://127.0.0.1:${(silent.address() as { port: number }).port}`;
const sms = await startSmsReceiver(t);
const log = createLogger({ service: "user", level: "silent" });
const h = await startHarness(t, {
  delivery: {
    adapters: {
      email: emailAdapter({ smtpUrl, from: "Parley <no-reply@parley.test>", log }),
      sms: smsAdapter({
        baseUrl: sms.url,
        accountSid: sms.account.sid,
        authToken: sms.account.authToken,
        from: "+15550001111",
      }),
    },
    rules: DEFAULT_DELIVERY_RULES,
    vapidPublicKey: "",
    pollMs: 60_000,
  },
});

t.test("stopping mid-batch records what was sent at once, and leaves the hanging send leased", async (t) => {
  const person = await h.person();
  await h.client.ensureProfile(
    { userId: person.userId, displayName: "Asha", email: "asha@example.com", phone: "+919800000001" },
    h.as.auth,
  );
  await h.client.notify(
    {
      eventId: "signin-1",
      userId: person.userId,
      kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN,
      data: { device: "Firefox" },
    },
    h.as.auth,
  );
  for (let i = 0; i < 200 && sms.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(sms.requests.length, 1, "the SMS went out; the email is still waiting for a greeting");
  const started = performance.now();
  await h.service.deliveryWorker!.stop();
  const stopMs = performance.now() - started;
  t.ok(stopMs < 3_000, `stopped in ${stopMs.toFixed(0)} ms, not after the hanging send`);
  const rows = await h.sql`select channel, status, attempts from users.deliveries
    where user_id = ${person.userId} order by channel`;
  t.same(
    rows.map((r) => [r.channel, r.status, r.attempts]),
    [
      ["email", "pending", 0],
      ["sms", "sent", 1],
    ],
    "the SMS is recorded sent (not sent again after the lease); the email stays leased, to go again",
  );
});
