import { createInProcessBus } from "@parley/kit/bus";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import {
  MessageKind,
  type SessionEvent,
  SessionKind,
  SignalKind,
} from "@parley/proto/parley/session/v1/session";
import t from "tap";
import { watchSession } from "../src/domain/watch";
import { eventMessage } from "../src/grpc/mapping";
import { busEventFeed } from "../src/persistence/event-feed";
import { EVENT_PAGE } from "../src/persistence/store";
import { failure, type Person, startHarness, text } from "./harness";

const harness = await startHarness(t);
const { session } = harness;

/** Reads a watch stream in the background; `until` resolves once a predicate holds. */
function watch(person: Person, sessionId: string, afterSeq = 0n) {
  const stream = session.watchSession({ sessionId, afterSeq }, person.call);
  const events: SessionEvent[] = [];
  const waiters: Array<() => void> = [];
  const done = (async () => {
    try {
      for await (const event of stream) {
        events.push(event);
        for (const wake of waiters.splice(0)) wake();
      }
    } catch {
      // cancelled by the test
    }
  })();
  return {
    events,
    stored: () => events.filter((e) => e.seq > 0n),
    async until(predicate: (events: SessionEvent[]) => boolean) {
      const deadline = Date.now() + 5_000;
      while (!predicate(events)) {
        if (Date.now() > deadline) throw new Error(`watch timed out with ${events.length} events`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    async close() {
      stream.cancel();
      await done;
    },
  };
}

const seqs = (events: SessionEvent[]) => events.map((e) => Number(e.seq));

t.test("chat: seq per session, client_msg_id idempotency, limits, cursor pages, receipts", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  const first = await session.sendMessage(text(sessionId, "hello", "m-1"), user.call);
  const retry = await session.sendMessage(text(sessionId, "hello", "m-1"), user.call);
  t.equal(retry.message!.messageId, first.message!.messageId, "a retry returns the same message");
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "something else", "m-1"), user.call))).reason,
    "IDEMPOTENCY_KEY_REUSED",
    "the same client_msg_id for other content is refused, not swallowed",
  );
  const reply = await session.sendMessage(text(sessionId, "hi"), expert.call);
  t.ok(reply.message!.seq > first.message!.seq, "seq grows per session");
  const image = await session.sendMessage(
    {
      ...text(sessionId, ""),
      kind: MessageKind.MESSAGE_KIND_IMAGE,
      attachmentUrl: "uploads/a.png",
      attachmentContentType: "image/png",
    },
    user.call,
  );
  t.equal(image.message!.kind, MessageKind.MESSAGE_KIND_IMAGE);
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "x".repeat(4001)), user.call))).reason,
    "MESSAGE_TOO_LARGE",
  );
  t.equal((await failure(session.sendMessage(text(sessionId, ""), user.call))).reason, "VALIDATION_FAILED");
  t.equal(
    (
      await failure(
        session.sendMessage({ ...text(sessionId, "hi"), kind: MessageKind.MESSAGE_KIND_SYSTEM }, user.call),
      )
    ).reason,
    "VALIDATION_FAILED",
  );

  const page1 = await session.listMessages({ sessionId, pageSize: 2, pageToken: "" }, user.call);
  t.same(
    page1.messages.map((m) => m.text),
    ["hello", "hi"],
  );
  const page2 = await session.listMessages(
    { sessionId, pageSize: 2, pageToken: page1.nextPageToken },
    expert.call,
  );
  t.same(
    page2.messages.map((m) => m.attachmentUrl),
    ["uploads/a.png"],
  );
  t.equal(page2.nextPageToken, "");
  const operator = await harness.person("operator");
  const forDispute = await session.listMessages({ sessionId, pageSize: 0, pageToken: "" }, operator.call);
  t.equal(forDispute.messages.length, 3, "operators may read for disputes");
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "hi"), operator.call))).reason,
    "NOT_SESSION_PARTICIPANT",
  );

  const receipt = await session.markRead(
    { sessionId, deliveredSeq: reply.message!.seq, readSeq: first.message!.seq },
    expert.call,
  );
  t.equal(receipt.receipt!.readSeq, first.message!.seq);
  const seqBefore = async () =>
    (
      await harness.sql<
        { last_seq: string }[]
      >`select last_seq from sessions.sessions where id = ${sessionId}`
    )[0]!.last_seq;
  const stored = await seqBefore();
  const back = await session.markRead({ sessionId, deliveredSeq: 0n, readSeq: 0n }, expert.call);
  t.equal(back.receipt!.readSeq, first.message!.seq, "markers never move back");
  await session.markRead(
    { sessionId, deliveredSeq: reply.message!.seq, readSeq: first.message!.seq },
    expert.call,
  );
  t.equal(await seqBefore(), stored, "and markers that did not move store no receipt event");

  await session.endSession({ reason: "", sessionId }, user.call);
  t.equal(
    (await failure(session.sendMessage(text(sessionId, "late"), user.call))).reason,
    "SESSION_NOT_ACTIVE",
  );
  const afterEnd = await session.sendMessage(text(sessionId, "hello", "m-1"), user.call);
  t.equal(afterEnd.message!.messageId, first.message!.messageId, "a retry is answered after the end too");
});

t.test("an attachment is an upload's key or an https URL, with a bounded media type", async (t) => {
  const { user, sessionId } = await harness.activeSession();
  const attached = (attachmentUrl: string, attachmentContentType = "image/png") =>
    session.sendMessage(
      { ...text(sessionId, ""), kind: MessageKind.MESSAGE_KIND_FILE, attachmentUrl, attachmentContentType },
      user.call,
    );
  for (const [url, contentType, field] of [
    ["javascript:alert(1)", "image/png", "attachment_url"],
    [" JavaScript:alert(1)", "image/png", "attachment_url"],
    ["data:text/html,<script>alert(1)</script>", "text/html", "attachment_url"],
    ["http://cdn.example/a.png", "image/png", "attachment_url"],
    ["//evil.example/a.png", "image/png", "attachment_url"],
    ["uploads/a.pdf", 'application/pdf; x="<b>"', "attachment_content_type"],
  ] as const) {
    const refused = await failure(attached(url, contentType));
    t.equal(refused.reason, "VALIDATION_FAILED", `${url} (${contentType}) is refused`);
    t.equal(refused.fieldViolations[0]?.field, field);
  }
  t.equal(
    (await failure(attached("uploads/a.pdf", `application/${"x".repeat(300)}`))).reason,
    "MESSAGE_TOO_LARGE",
    "a content type has a bound",
  );
  t.equal(
    (
      await failure(
        session.sendMessage({ ...text(sessionId, "hi"), attachmentContentType: "image/png" }, user.call),
      )
    ).reason,
    "VALIDATION_FAILED",
    "a text message carries no content type either",
  );
  const linked = await attached("https://cdn.example/files/a.pdf", "application/pdf");
  t.equal(linked.message!.attachmentUrl, "https://cdn.example/files/a.pdf", "an https URL is kept");
});

t.test("a block either way refuses both people's messages; a retry still gets its answer", async (t) => {
  for (const blocker of ["user", "expert"] as const) {
    const people = await harness.activeSession();
    const sent = await session.sendMessage(text(people.sessionId, "before", "m-1"), people.user.call);
    const blocked = blocker === "user" ? people.expert : people.user;
    await harness.sql`insert into sessions.blocks (blocker_id, blocked_id, created_at)
      values (${people[blocker].userId}, ${blocked.userId}, now())`;
    for (const sender of [people.user, people.expert])
      t.equal(
        (await failure(session.sendMessage(text(people.sessionId, "after"), sender.call))).reason,
        "PARTICIPANT_BLOCKED",
        `blocked by the ${blocker}`,
      );
    const retry = await session.sendMessage(text(people.sessionId, "before", "m-1"), people.user.call);
    t.equal(retry.message!.messageId, sent.message!.messageId, "the message sent before the block");
  }
});

t.test("retries racing on one client_msg_id store one message and take one seq", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  const clientMsgId = newId();
  const sent = await Promise.all(
    Array.from({ length: 4 }, () => session.sendMessage(text(sessionId, "once", clientMsgId), user.call)),
  );
  t.equal(new Set(sent.map((s) => s.message!.messageId)).size, 1, "every retry answers the one message");
  const next = await session.sendMessage(text(sessionId, "after"), expert.call);
  t.equal(next.message!.seq, sent[0]!.message!.seq + 1n, "the losers took no seq");
  const replay = watch(user, sessionId);
  await replay.until((events) => events.some((e) => e.seq === next.message!.seq));
  await replay.close();
  const messages = replay.stored().filter((e) => e.kind?.$case === "message");
  t.same(
    messages.map((e) => (e.kind?.$case === "message" ? e.kind.value.seq : undefined)),
    messages.map((e) => e.seq),
    "a replayed message carries its event's seq",
  );
  t.equal(messages.length, 2);
});

t.test(
  "watchers get replay then live, in order; reconnecting with after_seq sees each event once",
  async (t) => {
    const { user, expert, sessionId } = await harness.activeSession();
    for (let i = 0; i < 5; i++) await session.sendMessage(text(sessionId, `before ${i}`), user.call);
    const userWatch = watch(user, sessionId);
    const expertWatch = watch(expert, sessionId);
    const sending = (async () => {
      for (let i = 0; i < 20; i++)
        await session.sendMessage(text(sessionId, `live ${i}`), i % 2 ? user.call : expert.call);
    })();
    await userWatch.until((events) =>
      events.some((e) => e.kind?.$case === "message" && e.kind.value.text === "live 5"),
    );
    await userWatch.close();
    const seen = userWatch.stored();
    const lastSeen = seen.at(-1)!.seq;
    await sending;
    await session.sendTyping({ sessionId, typing: true }, expert.call);
    const resumed = watch(user, sessionId, lastSeen);
    const [row] = await harness.sql`select last_seq from sessions.sessions where id = ${sessionId}`;
    const lastSeq = row!.last_seq as bigint;
    await resumed.until((events) => events.some((e) => e.seq === BigInt(lastSeq)));
    await session.sendTyping({ sessionId, typing: true }, expert.call);
    await resumed.until((events) => events.some((e) => e.kind?.$case === "typing"));
    const all = [...seen, ...resumed.stored()];
    t.same(
      seqs(all),
      Array.from({ length: Number(lastSeq) }, (_, i) => i + 1),
      "every stored event exactly once, in order",
    );
    t.equal(resumed.events.find((e) => e.kind?.$case === "typing")?.seq, 0n, "typing is ephemeral (seq 0)");

    await expertWatch.until((events) => events.some((e) => e.seq === BigInt(lastSeq)));
    t.same(
      seqs(expertWatch.stored()),
      Array.from({ length: Number(lastSeq) }, (_, i) => i + 1),
      "a second watcher sees the same",
    );
    await resumed.close();
    await expertWatch.close();
  },
);

t.test("a long chat replays page by page: every event once, in order, no page over EVENT_PAGE", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession();
  const count = EVENT_PAGE * 2 + 20;
  for (let sent = 0; sent < count; sent += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        session.sendMessage(text(sessionId, `m ${sent + i}`), i % 2 ? user.call : expert.call),
      ),
    );
  const [row] = await harness.sql`select last_seq from sessions.sessions where id = ${sessionId}`;
  const lastSeq = Number(row!.last_seq);
  t.ok(lastSeq > count, `${lastSeq} stored events`);
  t.equal(
    (await harness.service.sessions.eventsBetween(sessionId, 0n)).length,
    EVENT_PAGE,
    "one read carries a page, not the whole chat",
  );
  const replay = watch(user, sessionId);
  await replay.until((events) => events.some((e) => Number(e.seq) === lastSeq));
  t.same(
    seqs(replay.stored()),
    Array.from({ length: lastSeq }, (_, i) => i + 1),
    "the watcher gets every page",
  );
  await replay.close();
});

t.test("call signals are relayed over the stream and not stored", async (t) => {
  const { user, expert, sessionId } = await harness.activeSession({ kind: SessionKind.SESSION_KIND_CALL });
  const expertWatch = watch(expert, sessionId);
  await expertWatch.until((events) => events.length > 0);
  await session.sendSignal({ sessionId, kind: SignalKind.SIGNAL_KIND_OFFER, payload: "v=0 sdp" }, user.call);
  await expertWatch.until((events) => events.some((e) => e.kind?.$case === "callSignal"));
  const signal = expertWatch.events.find((e) => e.kind?.$case === "callSignal")!;
  t.equal(signal.seq, 0n);
  t.match(signal.kind, {
    value: { fromUserId: user.userId, payload: "v=0 sdp", kind: SignalKind.SIGNAL_KIND_OFFER },
  });
  const stored =
    await harness.sql`select count(*)::int as n from sessions.session_events where session_id = ${sessionId} and body->>'type' = 'call_signal'`;
  t.equal(stored[0]!.n, 0);
  t.equal(
    (
      await failure(
        session.sendSignal(
          { sessionId, kind: SignalKind.SIGNAL_KIND_OFFER, payload: "x".repeat(17_000) },
          user.call,
        ),
      )
    ).reason,
    "MESSAGE_TOO_LARGE",
  );
  await expertWatch.close();
});

t.test("a non-participant gets NOT_FOUND or PERMISSION_DENIED from every session RPC", async (t) => {
  const { user, sessionId } = await harness.activeSession();
  const stranger = await harness.person();
  const calls: Array<[string, () => Promise<unknown>]> = [
    ["AcceptSession", () => session.acceptSession({ sessionId }, stranger.call)],
    ["DeclineSession", () => session.declineSession({ sessionId }, stranger.call)],
    ["CancelSession", () => session.cancelSession({ sessionId }, stranger.call)],
    ["EndSession", () => session.endSession({ reason: "", sessionId }, stranger.call)],
    ["GetSession", () => session.getSession({ sessionId }, stranger.call)],
    ["GetQueue", () => session.getQueue({ expertId: user.userId }, stranger.call)],
    ["SendMessage", () => session.sendMessage(text(sessionId, "hi"), stranger.call)],
    ["ListMessages", () => session.listMessages({ sessionId, pageSize: 0, pageToken: "" }, stranger.call)],
    ["MarkRead", () => session.markRead({ sessionId, deliveredSeq: 1n, readSeq: 1n }, stranger.call)],
    ["SendTyping", () => session.sendTyping({ sessionId, typing: true }, stranger.call)],
    [
      "SendSignal",
      () => session.sendSignal({ sessionId, kind: SignalKind.SIGNAL_KIND_OFFER, payload: "" }, stranger.call),
    ],
    ["SubmitReview", () => session.submitReview({ sessionId, rating: 1, text: "" }, stranger.call)],
    [
      "ReportPresence",
      () => session.reportPresence({ userId: stranger.userId, sessionId, online: false }, stranger.call),
    ],
    [
      "ListSessions",
      () =>
        session.listSessions(
          { participantId: user.userId, statuses: [], kind: 0, pageSize: 0, pageToken: "" },
          stranger.call,
        ),
    ],
    [
      "WatchSession",
      async () => {
        for await (const _ of session.watchSession({ sessionId, afterSeq: 0n }, stranger.call)) return;
      },
    ],
  ];
  for (const [name, call] of calls) {
    const error = await failure(call());
    t.ok(
      error.kind === "not_found" || error.kind === "permission_denied",
      `${name}: ${error.kind} ${error.reason}`,
    );
  }
});

t.test("watch streams carry heartbeats (seq 0) while nothing happens", async (t) => {
  const { sessionId } = await harness.activeSession();
  const events: SessionEvent[] = [];
  const stop = new AbortController();
  const watching = watchSession(
    {
      feed: busEventFeed(createInProcessBus(), createLogger({ service: "session", level: "silent" })),
      catchUp: harness.service.catchUp,
      eventsBetween: harness.service.sessions.eventsBetween,
      heartbeatMs: 10,
      now: () => harness.clock.now,
    },
    sessionId,
    0n,
    async (event) => {
      events.push(eventMessage(event));
      if (events.filter((e) => e.kind?.$case === "heartbeat").length === 2) stop.abort();
    },
    stop.signal,
  );
  await watching;
  const heartbeats = events.filter((e) => e.kind?.$case === "heartbeat");
  t.equal(heartbeats.length, 2);
  t.ok(heartbeats.every((e) => e.seq === 0n));
  t.ok(events[0]!.kind?.$case === "statusChanged", "replayed events come first");
});
