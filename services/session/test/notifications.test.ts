import { createDatabase } from "@parley/kit/db";
import { invalidArgument } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { createNotificationRelay, type Notifier, userNotifier } from "@parley/kit/notify";
import { SessionKind } from "@parley/proto/parley/session/v1/session";
import { NotificationKind } from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { createUserClient } from "../src/clients/user";
import { NOTIFICATION_OUTBOX } from "../src/persistence/store";
import { type Person, RATE, startHarness } from "./harness";

const harness = await startHarness(t);
const database = createDatabase(harness.databaseUrl, { max: 4 });
t.teardown(database.close);
const relayOver = (notifier: Notifier, pollMs?: number) =>
  createNotificationRelay({
    sql: database.sql,
    table: NOTIFICATION_OUTBOX,
    notifier,
    log: harness.log,
    pollMs,
  });
const relay = relayOver(userNotifier(harness.user));

const outbox = async () =>
  (await harness.sql`select id, payload from sessions.notification_outbox order by id`).map((r) => ({
    id: r.id as string,
    payload: r.payload as { userId: string; kind: string; data: Record<string, string> },
  }));

/** A chat request of `user`'s to `expert`: its session id. */
const requestChat = async (user: Person, expert: Person) =>
  (
    await harness.session.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    )
  ).session!.sessionId;

/** The person's inbox, as the user service (whose Notify the relay called) holds it. */
async function inbox(person: Person) {
  const client = createUserClient(harness.addresses.user, async () => person.call.bearerToken);
  try {
    return (await client.listNotifications({ unreadOnly: false, pageSize: 100, pageToken: "" }))
      .notifications;
  } finally {
    client.close();
  }
}

t.test(
  "every change a person should hear of is an outbox row of its transaction, relayed once",
  async (t) => {
    const user = await harness.person();
    const expert = await harness.expert();
    await harness.fund(user.userId, RATE * 20n);
    const { session } = await harness.session.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    );
    const sessionId = session!.sessionId;
    const waiting = (await outbox()).find((row) => row.id === `${sessionId}:waiting`);
    t.same(waiting?.payload, {
      userId: expert.userId,
      kind: "request_waiting",
      data: { session_id: sessionId, user_id: user.userId, session_kind: "chat", position: "1" },
    });
    await harness.session.acceptSession({ sessionId }, expert.call);
    await harness.session.endSession({ reason: "", sessionId }, user.call);
    t.same(
      (await outbox()).filter((row) => row.id.startsWith(sessionId)).map((row) => row.id),
      [`${sessionId}:accepted`, `${sessionId}:ended`, `${sessionId}:waiting`],
    );
    while ((await relay.drainOnce()) > 0);
    t.same(await outbox(), [], "delivered rows leave the outbox");
    const expertInbox = await inbox(expert);
    t.same(
      expertInbox.map((n) => n.kind),
      [NotificationKind.NOTIFICATION_KIND_REQUEST_WAITING],
    );
    t.match(expertInbox[0]!.body, /is waiting for a chat with you \(position 1/);
    const userInbox = await inbox(user);
    t.same(
      userInbox.map((n) => n.kind),
      [NotificationKind.NOTIFICATION_KIND_SESSION_ENDED, NotificationKind.NOTIFICATION_KIND_SESSION_ACCEPTED],
    );
    t.equal(userInbox[0]!.data.minutes, "1");
    t.equal(userInbox[0]!.data.amount_minor, RATE.toString());

    // The same rows delivered again (a relay that died before deleting them) change nothing.
    await harness.sql`insert into sessions.notification_outbox (id, payload)
    values (${`${sessionId}:accepted`}, ${harness.sql.json({ userId: user.userId, kind: "session_accepted", data: { session_id: sessionId } })})`;
    await relay.drainOnce();
    t.equal((await inbox(user)).length, 2, "redelivery is idempotent");
  },
);

t.test("declined, cancelled; a failed delivery is retried later", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 40n);
  const request = () => requestChat(user, expert);
  const declined = await request();
  await harness.session.declineSession({ sessionId: declined }, expert.call);
  const cancelled = await request();
  await harness.session.cancelSession({ sessionId: cancelled }, user.call);
  const rows = await outbox();
  t.ok(rows.some((r) => r.id === `${declined}:declined` && r.payload.userId === user.userId));
  t.ok(rows.some((r) => r.id === `${cancelled}:cancelled` && r.payload.userId === expert.userId));

  const down = async () => {
    throw new Error("user service down");
  };
  const failing = relayOver({ notify: down, notifyMany: down });
  await failing.drainOnce();
  const [retry] = await harness.sql`select attempts, last_error, next_attempt_at > now() as later
    from sessions.notification_outbox where id = ${`${declined}:declined`}`;
  t.same(retry, { attempts: 1, last_error: "Error: user service down", later: true });
  await harness.sql`update sessions.notification_outbox set next_attempt_at = now()`;
  while ((await relay.drainOnce()) > 0);
  t.same(await outbox(), []);
});

t.test("a notice user refuses as invalid is dropped, not retried for ever ahead of the next", async (t) => {
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 40n);
  const request = () => requestChat(user, expert);
  const first = await request();
  await harness.session.declineSession({ sessionId: first }, expert.call);
  const second = await request();
  await harness.session.declineSession({ sessionId: second }, expert.call);
  const real = userNotifier(harness.user);
  const refusing: Notifier = {
    notify: (intent) =>
      intent.id === `${first}:declined`
        ? Promise.reject(invalidArgument("VALIDATION_FAILED", "data is too long"))
        : real.notify(intent),
    notifyMany: () => Promise.reject(invalidArgument("VALIDATION_FAILED", "data is too long")),
  };
  const relay = relayOver(refusing);
  while ((await relay.drainOnce()) > 0);
  t.same(
    (await outbox()).filter((row) => row.payload.userId === user.userId),
    [],
    "the refused one is gone, and the one behind it went",
  );
  const kinds = (await inbox(user)).filter((n) => n.data.session_id === second);
  t.equal(kinds.length, 1, "the person heard of the second decline");
});

t.test(
  "a batch's intents go to the user service in one NotifyMany call, one person's in order",
  async (t) => {
    const [user, other] = [await harness.person(), await harness.person()];
    await harness.sql`delete from sessions.notification_outbox`;
    const written = [
      [user, "s1"],
      [user, "s2"],
      [other, "s3"],
      [user, "s4"],
    ] as const;
    for (const [person, session] of written)
      await harness.sql`insert into sessions.notification_outbox (id, payload) values (${`${session}:accepted`},
      ${harness.sql.json({ userId: person.userId, kind: "session_accepted", data: { session_id: session } })})`;
    const calls: string[][] = [];
    const real = userNotifier(harness.user);
    const counted = relayOver({
      notify: async (intent) => {
        calls.push([intent.id]);
        await real.notify(intent);
      },
      notifyMany: async (intents) => {
        calls.push(intents.map((intent) => intent.id));
        await real.notifyMany(intents);
      },
    });
    t.equal(await counted.drainOnce(), 4);
    t.same(
      calls,
      [["s1:accepted", "s2:accepted", "s3:accepted", "s4:accepted"]],
      "one call, in the order written",
    );
    t.same(await outbox(), []);
    t.same(
      (await inbox(user)).map((n) => [Number(n.seq), n.data.session_id]),
      [
        [3, "s4"],
        [2, "s2"],
        [1, "s1"],
      ],
      "stored in the order written",
    );
    t.same(
      (await inbox(other)).map((n) => n.data.session_id),
      ["s3"],
    );
  },
);

t.test("the relay wakes on commit: NOTIFY, not the poll", async (t) => {
  const live = relayOver(userNotifier(harness.user), 60_000);
  await live.start();
  t.teardown(live.stop);
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, RATE * 20n);
  const started = Date.now();
  await harness.session.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
    user.call,
  );
  while ((await inbox(expert)).length === 0) {
    if (Date.now() - started > 5_000) throw new Error("no notification");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.ok(
    Date.now() - started < 1_000,
    `stored at the user service ${Date.now() - started} ms after the request`,
  );
});
