import { ProfileStatus } from "@parley/proto/parley/user/v1/staff";
import {
  ExpertAvailability,
  NotificationKind,
  type WatchMeResponse,
} from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { blankProfile, type Caller, failure, startHarness } from "./harness";

const h = await startHarness(t);

const notify = (userId: string, eventId: string, kind = NotificationKind.NOTIFICATION_KIND_TOP_UP_CREDITED) =>
  h.client.notify(
    { eventId, userId, kind, data: { amount_minor: "50000", currency: "INR", payment_id: eventId } },
    h.as.billing,
  );

/** Reads a WatchMe stream in the background; `until` resolves once a predicate holds. */
function watch(call: Caller, afterSeq = 0n) {
  const stream = h.client.watchMe({ afterSeq }, call);
  const messages: WatchMeResponse[] = [];
  const done = (async () => {
    try {
      for await (const message of stream) messages.push(message);
    } catch {
      // cancelled by the test
    }
  })();
  const seqs = () => messages.flatMap((m) => (m.notification ? [Number(m.notification.seq)] : []));
  return {
    seqs,
    async until(count: number) {
      const deadline = Date.now() + 5_000;
      while (seqs().length < count) {
        if (Date.now() > deadline) throw new Error(`watch timed out with ${seqs().length} notifications`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      stream.cancel();
      await done;
    },
  };
}

t.test("Notify: per-person seq, idempotent by producer event, rendered in the person's locale", async (t) => {
  const person = await h.person();
  const first = await notify(person.userId, "payment-1");
  t.equal(first.created, true);
  t.equal(first.notification!.seq, 1n);
  t.equal(first.notification!.title, "Top-up received");
  t.equal(first.notification!.body, "₹500.00 was added to your wallet.");
  const again = await notify(person.userId, "payment-1");
  t.equal(again.created, false, "a retried event stores nothing new");
  t.equal(again.notification!.notificationId, first.notification!.notificationId);
  const racing = await Promise.all(
    Array.from({ length: 8 }, (_, i) => notify(person.userId, `race-${i % 4}`)),
  );
  t.equal(racing.filter((r) => r.created).length, 4, "concurrent duplicates store each event once");
  t.same(
    [...new Set(racing.map((r) => Number(r.notification!.seq)))].sort(),
    [2, 3, 4, 5],
    "seqs run without gaps",
  );

  const hindi = await h.person();
  await h.client.getMe({}, hindi.call);
  await h.client.updateProfile(
    {
      reason: "",
      profile: {
        ...blankProfile,
        preferences: { locale: "hi-IN", timeZone: "", emailNotifications: true, pushNotifications: true },
      },
      updateMask: ["preferences"],
    },
    hindi.call,
  );
  const inHindi = await notify(hindi.userId, "payment-hi");
  t.equal(inHindi.notification!.seq, 1n, "every person has their own sequence");
  t.equal(inHindi.notification!.body, "आपके वॉलेट में ₹500.00 जोड़े गए।");
});

t.test("Notify racing a call that stores its event first: answers that row, skips no seq", async (t) => {
  const person = await h.person();
  const notificationId = "00000000-0000-4000-8000-000000000001";
  // Another call's transaction, holding the person's head and the event, still open while
  // this Notify runs: its statement cannot see the row and waits on the head.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let ready!: () => void;
  const holding = new Promise<void>((resolve) => (ready = resolve));
  const other = h.sql.begin(async (tx) => {
    const [head] =
      await tx`insert into users.notification_heads as h (user_id, last_seq) values (${person.userId}, 1)
      on conflict (user_id) do update set last_seq = h.last_seq + 1 returning last_seq`;
    await tx`insert into users.notifications (user_id, seq, notification_id, producer, event_id, kind, title, body, data, created_at)
      values (${person.userId}, ${head!.last_seq}, ${notificationId}, 'billing', 'raced-1', 'top_up_credited', 'Top-up received', '', '{}', now())`;
    ready();
    await released;
    return BigInt(head!.last_seq as bigint);
  });
  await holding;
  const racing = notify(person.userId, "raced-1");
  const deadline = Date.now() + 5_000;
  while (
    (
      await h.sql`select 1 from pg_stat_activity where datname = current_database()
        and wait_event_type = 'Lock' and query like '%notification_heads%'`
    ).length === 0
  ) {
    if (Date.now() > deadline) throw new Error("Notify never waited on the other call");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  release();
  const seq = await other;
  const raced = await racing;
  t.equal(raced.created, false, "the other call stored it");
  t.equal(raced.notification!.notificationId, notificationId, "and its row is the answer");
  const next = await notify(person.userId, "raced-2");
  t.equal(next.notification!.seq, seq + 1n, "the losing attempt took no seq");
});

t.test("Notify: only services, valid input", async (t) => {
  const person = await h.person();
  t.equal((await failure(notify(person.userId, ""))).reason, "VALIDATION_FAILED");
  const asPerson = await failure(
    h.client.notify(
      { eventId: "x", userId: person.userId, kind: NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN, data: {} },
      person.call,
    ),
  );
  t.equal(asPerson.kind, "permission_denied");
  const noKind = await failure(
    h.client.notify(
      { eventId: "x", userId: person.userId, kind: NotificationKind.NOTIFICATION_KIND_UNSPECIFIED, data: {} },
      h.as.session,
    ),
  );
  t.equal(noKind.reason, "VALIDATION_FAILED");
});

const event = (userId: string, eventId: string, kind = NotificationKind.NOTIFICATION_KIND_NEW_SIGN_IN) => ({
  eventId,
  userId,
  kind,
  data: { device: eventId },
});

t.test(
  "NotifyMany: one call stores every event, one person's in the request's order, idempotent by event",
  async (t) => {
    const [person, other] = [await h.person(), await h.person()];
    const events = [
      event(person.userId, "sign-in-1"),
      event(other.userId, "sign-in-o"),
      event(person.userId, "sign-in-2"),
      event(person.userId, "sign-in-1"),
      event(person.userId, "sign-in-3"),
    ];
    const first = await h.client.notifyMany({ events }, h.as.auth);
    t.same(
      first.results.map((r) => [r.notification!.data.device, Number(r.notification!.seq), r.created]),
      [
        ["sign-in-1", 1, true],
        ["sign-in-o", 1, true],
        ["sign-in-2", 2, true],
        ["sign-in-1", 1, false],
        ["sign-in-3", 3, true],
      ],
      "a result per event in order; an event twice in the call is one notification",
    );
    t.equal(first.results[3]!.notification!.notificationId, first.results[0]!.notification!.notificationId);
    const again = await h.client.notifyMany({ events }, h.as.auth);
    t.same(
      again.results.map((r) => [r.notification!.notificationId, r.created]),
      first.results.map((r) => [r.notification!.notificationId, false]),
      "the same call again stores nothing",
    );
    const stored = await h.client.listNotifications(
      { unreadOnly: false, pageSize: 10, pageToken: "" },
      person.call,
    );
    t.same(
      stored.notifications.map((n) => [Number(n.seq), n.data.device]),
      [
        [3, "sign-in-3"],
        [2, "sign-in-2"],
        [1, "sign-in-1"],
      ],
    );
  },
);

t.test("NotifyMany: only services, 1 to 100 events, every event validated", async (t) => {
  const person = await h.person();
  const asPerson = await failure(h.client.notifyMany({ events: [event(person.userId, "x")] }, person.call));
  t.equal(asPerson.kind, "permission_denied");
  const fields = async (events: ReturnType<typeof event>[]) => {
    const refused = await failure(h.client.notifyMany({ events }, h.as.session));
    return [refused.reason, refused.fieldViolations.map((v) => v.field)];
  };
  t.same(await fields([]), ["VALIDATION_FAILED", ["events"]]);
  t.same(await fields(Array.from({ length: 101 }, (_, i) => event(person.userId, `many-${i}`))), [
    "VALIDATION_FAILED",
    ["events"],
  ]);
  t.same(await fields([event(person.userId, "ok"), event("not-a-uuid", "bad"), event(person.userId, "")]), [
    "VALIDATION_FAILED",
    ["events[1].user_id", "events[2].event_id"],
  ]);
  t.same(
    await fields([
      event(person.userId, "ok"),
      event(person.userId, "no-kind", NotificationKind.NOTIFICATION_KIND_UNSPECIFIED),
    ]),
    ["VALIDATION_FAILED", ["events[1].kind"]],
  );
  const inbox = await h.client.listNotifications(
    { unreadOnly: false, pageSize: 10, pageToken: "" },
    person.call,
  );
  t.same(inbox.notifications, [], "a refused call stores none of its events");
  const hundred = await h.client.notifyMany(
    { events: Array.from({ length: 100 }, (_, i) => event(person.userId, `many-${i}`)) },
    h.as.billing,
  );
  t.equal(hundred.results.filter((r) => r.created).length, 100);
});

t.test("inbox: pages newest first, unread count, mark read, mark all read", async (t) => {
  const person = await h.person();
  for (let i = 0; i < 5; i++) await notify(person.userId, `inbox-${i}`);
  const first = await h.client.listNotifications(
    { unreadOnly: false, pageSize: 2, pageToken: "" },
    person.call,
  );
  t.same(
    first.notifications.map((n) => n.seq),
    [5n, 4n],
  );
  t.equal(first.unreadCount, 5n);
  const second = await h.client.listNotifications(
    { unreadOnly: false, pageSize: 2, pageToken: first.nextPageToken },
    person.call,
  );
  t.same(
    second.notifications.map((n) => n.seq),
    [3n, 2n],
  );
  const other = await h.person();
  const stolen = await failure(
    h.client.listNotifications(
      { unreadOnly: false, pageSize: 2, pageToken: first.nextPageToken },
      other.call,
    ),
  );
  t.equal(stolen.reason, "INVALID_PAGE_TOKEN", "a token opens only its owner's inbox");

  const read = await h.client.markNotificationRead(
    { notificationId: first.notifications[0]!.notificationId },
    person.call,
  );
  t.ok(read.notification!.readAt);
  t.equal(read.unreadCount, 4n);
  const notMine = await failure(
    h.client.markNotificationRead({ notificationId: first.notifications[1]!.notificationId }, other.call),
  );
  t.equal(notMine.reason, "NOTIFICATION_NOT_FOUND");
  const unread = await h.client.listNotifications(
    { unreadOnly: true, pageSize: 0, pageToken: "" },
    person.call,
  );
  t.same(
    unread.notifications.map((n) => n.seq),
    [4n, 3n, 2n, 1n],
  );
  const upTo = await h.client.markAllNotificationsRead({ upToSeq: 2n }, person.call);
  t.same([upTo.markedCount, upTo.unreadCount], [2n, 2n]);
  const all = await h.client.markAllNotificationsRead({ upToSeq: 0n }, person.call);
  t.same([all.markedCount, all.unreadCount], [2n, 0n]);
});

t.test("WatchMe: replay after a seq, then live, resume without gap or duplicate", async (t) => {
  const person = await h.person();
  await notify(person.userId, "w-1");
  await notify(person.userId, "w-2");
  const first = await watch(person.call);
  await first.until(2);
  await notify(person.userId, "w-3");
  await first.until(3);
  t.same(first.seqs(), [1, 2, 3], "stored, then live");
  await first.close();
  await notify(person.userId, "w-4");
  await notify(person.userId, "w-5");
  const resumed = watch(person.call, 3n);
  await resumed.until(2);
  await notify(person.userId, "w-6");
  await resumed.until(3);
  t.same(resumed.seqs(), [4, 5, 6], "a reconnect gets exactly what it missed, then live");
  await resumed.close();

  const other = await h.person();
  const theirs = watch(other.call);
  await notify(person.userId, "w-7");
  await notify(other.userId, "o-1");
  await theirs.until(1);
  t.same(theirs.seqs(), [1], "a stream carries only its caller's notifications");
  await theirs.close();

  const service = await failure(
    (async () => {
      for await (const _ of h.client.watchMe({ afterSeq: 0n }, h.as.session)) return;
    })(),
  );
  t.equal(service.kind, "permission_denied", "only people watch themselves");
});

t.test(
  "favourites: add, list, remove; told when they come online, once per spell and interval",
  async (t) => {
    const expert = await h.expert();
    await h.client.setAvailability(
      { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
      expert.call,
    );
    const fans = await Promise.all([h.person(), h.person()]);
    for (const fan of fans) await h.client.addFavourite({ expertId: expert.userId }, fan.call);
    await h.client.addFavourite({ expertId: expert.userId }, fans[0]!.call);
    const other = await h.expert();
    await h.client.addFavourite({ expertId: other.userId }, fans[0]!.call);
    const listed = await h.client.listFavourites({ pageSize: 1, pageToken: "" }, fans[0]!.call);
    t.same(
      listed.experts.map((e) => e.userId),
      [other.userId],
      "most recent first",
    );
    const next = await h.client.listFavourites(
      { pageSize: 1, pageToken: listed.nextPageToken },
      fans[0]!.call,
    );
    t.same(
      next.experts.map((e) => e.userId),
      [expert.userId],
    );
    const missing = await failure(h.client.addFavourite({ expertId: crypto.randomUUID() }, fans[0]!.call));
    t.equal(missing.reason, "EXPERT_NOT_FOUND");

    const told = async (fan: Caller) =>
      (
        await h.client.listNotifications({ unreadOnly: false, pageSize: 100, pageToken: "" }, fan)
      ).notifications.filter((n) => n.kind === NotificationKind.NOTIFICATION_KIND_FAVOURITE_ONLINE);
    const until = async (fan: Caller, count: number) => {
      const deadline = Date.now() + 5_000;
      while ((await told(fan)).length < count) {
        if (Date.now() > deadline) throw new Error("no favourite_online notification");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const online = (on: boolean) => h.client.reportPresence({ userId: expert.userId, online: on }, h.as.edge);
    await online(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.equal((await told(fans[0]!.call)).length, 0, "a heartbeat while online starts no spell");
    await online(false);
    await online(true);
    await until(fans[0]!.call, 1);
    await until(fans[1]!.call, 1);
    const [notice] = await told(fans[0]!.call);
    t.equal(notice!.data.expert_id, expert.userId);
    t.match(notice!.title, /is online/);

    await online(false);
    await online(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.equal((await told(fans[0]!.call)).length, 1, "a new spell within the interval tells nobody again");

    await h.client.removeFavourite({ expertId: expert.userId }, fans[1]!.call);
    h.clock.advanceSeconds(3_601);
    await online(false);
    await online(true);
    await until(fans[0]!.call, 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.equal((await told(fans[1]!.call)).length, 1, "an unfavoured expert tells nothing");
  },
);

t.test("an expert no longer listed drops out of a fan's favourites instead of failing them", async (t) => {
  const [kept, suspended, deleted] = await Promise.all([h.expert(), h.expert(), h.expert()]);
  const fan = await h.person();
  for (const expert of [kept, suspended, deleted])
    await h.client.addFavourite({ expertId: expert.userId }, fan.call);
  const status = (userId: string, status: ProfileStatus) =>
    h.staff.setProfileStatus({ userId, status }, h.as.auth);
  await status(suspended.userId, ProfileStatus.PROFILE_STATUS_SUSPENDED);
  await status(deleted.userId, ProfileStatus.PROFILE_STATUS_DELETED);
  const listed = await h.client.listFavourites({ pageSize: 10, pageToken: "" }, fan.call);
  t.same(
    listed.experts.map((e) => e.userId),
    [kept.userId],
    "the suspended and the deleted expert are left out",
  );
  const [rows] = await h.sql<[{ n: number }]>`
    select count(*)::int as n from users.favourites where expert_id = ${deleted.userId}`;
  t.equal(rows.n, 0, "a deleted expert's fans no longer keep them");
  await status(suspended.userId, ProfileStatus.PROFILE_STATUS_ACTIVE);
  const back = await h.client.listFavourites({ pageSize: 10, pageToken: "" }, fan.call);
  t.same(
    back.experts.map((e) => e.userId).toSorted(),
    [kept.userId, suspended.userId].toSorted(),
    "and one reinstated is back",
  );
});

t.test("a fan and an expert blocked either way are not told of each other", async (t) => {
  const expert = await h.expert();
  await h.client.setAvailability(
    { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
    expert.call,
  );
  const [blocker, fan] = await Promise.all([h.person(), h.person()]);
  for (const person of [blocker, fan]) await h.client.addFavourite({ expertId: expert.userId }, person.call);
  // The session service's block, as its safety outbox delivers it.
  await h.safety.applyBlock(
    { blockerId: blocker.userId, blockedId: expert.userId, blocked: true, changedAt: new Date() },
    h.as.session,
  );
  const told = async (person: Caller) =>
    (
      await h.client.listNotifications({ unreadOnly: false, pageSize: 100, pageToken: "" }, person)
    ).notifications.filter((n) => n.kind === NotificationKind.NOTIFICATION_KIND_FAVOURITE_ONLINE);
  await h.client.reportPresence({ userId: expert.userId, online: false }, h.as.edge);
  await h.client.reportPresence({ userId: expert.userId, online: true }, h.as.edge);
  const deadline = Date.now() + 5_000;
  while ((await told(fan.call)).length === 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal((await told(fan.call)).length, 1, "the other fan is told");
  t.equal((await told(blocker.call)).length, 0, "the blocker is not");
  const stale = await failure(
    h.safety.applyBlock({ blockerId: "x", blockedId: expert.userId, blocked: true }, h.as.session),
  );
  t.equal(stale.reason, "VALIDATION_FAILED");
});
