import { createAuthenticator } from "@parley/kit/auth";
import { type Bus, createInProcessBus } from "@parley/kit/bus";
import { createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import {
  EndReason,
  MessageKind,
  type SessionEvent,
  SessionKind,
  SessionServiceService,
  SessionStatus,
} from "@parley/proto/parley/session/v1/session";
import {
  createTestDatabase,
  redisServerMissing,
  spawnService,
  startTestServer,
  startThrowawayRedis,
} from "@parley/testing";
import postgres from "postgres";
import t from "tap";
import { createSessionService, SESSION_MIGRATIONS } from "../src/server";
import { RATE, startHarness } from "./harness";

const harness = await startHarness(t);

/** Reads a watch stream in the background until `stop`. */
function collect(stream: AsyncIterable<SessionEvent> & { cancel(): void }) {
  const events: SessionEvent[] = [];
  const done = (async () => {
    try {
      for await (const event of stream) events.push(event);
    } catch {
      // ended by the test or by the server going away
    }
  })();
  return {
    events,
    stored: () => events.filter((event) => event.seq > 0n),
    async until(what: string, predicate: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      stream.cancel();
      await done;
    },
  };
}

const MINUTE_SECONDS = 2;

t.test(
  "Redis killed mid-session: minutes are charged on schedule, the session auto-ends on time, watchers get every stored event, SIGTERM stops the service within its grace",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const { url } = await createTestDatabase(t, { migrations: [SESSION_MIGRATIONS] });
    const sql = postgres(url, { max: 2, onnotice: () => {}, types: { bigint: postgres.BigInt } });
    t.teardown(() => sql.end({ timeout: 5 }));
    const service = await spawnService(
      t,
      "session",
      await harness.processEnv(url, {
        REDIS_URL: redis.url,
        MINUTE_SECONDS: String(MINUTE_SECONDS),
        MIN_MINUTES: "2",
        METERING_INTERVAL_MS: "100",
      }),
    );
    const client = createServiceClient(SessionServiceService, { address: service.address });
    t.teardown(() => client.close());
    const user = await harness.person();
    const expert = await harness.expert();
    // Four minutes of money: minute 5 cannot be paid, so the session ends when it starts.
    await harness.fund(user.userId, RATE * 4n);
    const { session: requested } = await client.requestSession(
      { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
      user.call,
    );
    const sessionId = requested!.sessionId;
    const watcher = collect(client.watchSession({ sessionId, afterSeq: 0n }, user.call));
    await client.acceptSession({ sessionId }, expert.call);
    await watcher.until("minute 1, live through Redis", () =>
      watcher.events.some((event) => event.kind?.$case === "minuteCharged"),
    );

    await redis.kill();
    // A chat message while Redis is dead: the write does not wait on the bus.
    const sent = Date.now();
    await client.sendMessage(
      {
        sessionId,
        kind: MessageKind.MESSAGE_KIND_TEXT,
        text: "still here",
        attachmentUrl: "",
        attachmentContentType: "",
        clientMsgId: newId(),
      },
      user.call,
    );
    t.ok(Date.now() - sent < 1_000, `SendMessage answered in ${Date.now() - sent} ms with Redis dead`);
    await watcher.until("the session to end", () =>
      watcher.events.some(
        (event) =>
          event.kind?.$case === "statusChanged" &&
          event.kind.value.session?.status === SessionStatus.SESSION_STATUS_ENDED,
      ),
    );

    const [row] = await sql`select started_at, ended_at, end_reason, minutes_charged, last_seq
      from sessions.sessions where id = ${sessionId}`;
    const startedAt = (row!.started_at as Date).getTime();
    const charged = await sql`select body->>'minute' as minute, occurred_at from sessions.session_events
      where session_id = ${sessionId} and body->>'type' = 'minute_charged' order by seq`;
    t.same(
      charged.map((event) => Number(event.minute)),
      [1, 2, 3, 4],
      "minutes 1..4 charged, each once",
    );
    for (const event of charged) {
      const due = startedAt + (Number(event.minute) - 1) * MINUTE_SECONDS * 1000;
      const late = (event.occurred_at as Date).getTime() - due;
      t.ok(late >= 0 && late < 1_500, `minute ${event.minute} charged ${late} ms after it started`);
    }
    t.equal(row!.end_reason, "insufficient_funds");
    const endedLate = (row!.ended_at as Date).getTime() - (startedAt + 4 * MINUTE_SECONDS * 1000);
    t.ok(endedLate >= 0 && endedLate < 1_500, `ended ${endedLate} ms after minute 5 started`);
    t.equal(await harness.available(user.userId), 0n, "four minutes paid, nothing more");

    const lastSeq = BigInt(row!.last_seq as bigint);
    await watcher.until("every stored event", () => watcher.stored().at(-1)?.seq === lastSeq, 5_000);
    t.same(
      watcher.stored().map((event) => event.seq),
      Array.from({ length: Number(lastSeq) }, (_, i) => BigInt(i + 1)),
      "the watcher got every stored event, in order, once, without Redis",
    );
    const ended = watcher
      .stored()
      .find((e) => e.kind?.$case === "statusChanged" && e.kind.value.session?.endReason);
    t.equal(
      ended?.kind?.$case === "statusChanged" ? ended.kind.value.session?.endReason : undefined,
      EndReason.END_REASON_INSUFFICIENT_FUNDS,
    );

    const stopping = Date.now();
    await service.stop();
    const tookMs = Date.now() - stopping;
    t.ok(tookMs < 10_000, `SIGTERM with Redis dead: stopped in ${tookMs} ms (grace 10 s)`);
    t.equal(service.process.exitCode, 0, "and exited cleanly");
    await watcher.stop();
  },
);

t.test("a watcher whose live feed never carries an event still gets it from the store", async (t) => {
  // Two instances whose buses do not reach each other: every publish of one is lost to the other.
  const writer = harness.instance();
  const lonely = createSessionService({
    sql: harness.sql,
    bus: createInProcessBus(),
    billing: harness.billingPort,
    experts: harness.experts,
    rules: harness.rules,
    log: harness.log,
    now: () => harness.clock.now,
    watch: { pollMs: 50, checkMs: 200 },
  });
  t.teardown(() => lonely.catchUp.close());
  const { address } = await startTestServer(t, {
    name: "session",
    services: [lonely.binding],
    authenticate: createAuthenticator({ tokens: harness.issuer.verifier }),
  });
  const client = createServiceClient(SessionServiceService, { address });
  t.teardown(() => client.close());
  const { user, sessionId } = await harness.activeSession();
  const watcher = collect(client.watchSession({ sessionId, afterSeq: 0n }, user.call));
  await watcher.until("the replay", () => watcher.stored().length > 0);
  const principal = await harness.issuer.verifier.verify(user.call.bearerToken);
  for (const text of ["one", "two", "three"])
    await writer.sessions.sendMessage(principal, {
      sessionId,
      kind: "text",
      text,
      attachmentUrl: "",
      attachmentContentType: "",
      clientMsgId: newId(),
    });
  await watcher.until("the messages, from the store", () =>
    ["one", "two", "three"].every((text) =>
      watcher.events.some((event) => event.kind?.$case === "message" && event.kind.value.text === text),
    ),
  );
  const seqs = watcher.stored().map((event) => event.seq);
  t.same(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => BigInt(i + 1)),
    "in order, none missing, none twice",
  );
  await watcher.stop();
});

t.test(
  "a live feed that loses events: the next event's seq gap brings them from the store at once",
  async (t) => {
    // A bus that drops what is published while `losing` (a Redis blip), and no catch-up check for
    // an hour: only the seq gap the next live event shows can bring the lost ones back.
    const inner = createInProcessBus();
    let losing = false;
    const lossy: Bus = {
      ...inner,
      publish: (topic, message) => (losing ? undefined : inner.publish(topic, message)),
    };
    const service = createSessionService({
      sql: harness.sql,
      bus: lossy,
      billing: harness.billingPort,
      experts: harness.experts,
      rules: harness.rules,
      log: harness.log,
      now: () => harness.clock.now,
      heartbeatMs: 20,
      watch: { pollMs: 3_600_000, checkMs: 3_600_000 },
    });
    t.teardown(() => service.catchUp.close());
    const { address } = await startTestServer(t, {
      name: "session",
      services: [service.binding],
      authenticate: createAuthenticator({ tokens: harness.issuer.verifier }),
    });
    const client = createServiceClient(SessionServiceService, { address });
    t.teardown(() => client.close());
    const { user, sessionId } = await harness.activeSession();
    const watcher = collect(client.watchSession({ sessionId, afterSeq: 0n }, user.call));
    // Heartbeats start once the replay is out: from here on, stored events arrive only live.
    await watcher.until("the replay", () =>
      watcher.events.some((event) => event.kind?.$case === "heartbeat"),
    );
    const principal = await harness.issuer.verifier.verify(user.call.bearerToken);
    const send = (text: string) =>
      service.sessions.sendMessage(principal, {
        sessionId,
        kind: "text",
        text,
        attachmentUrl: "",
        attachmentContentType: "",
        clientMsgId: newId(),
      });
    losing = true;
    await send("lost one");
    await send("lost two");
    losing = false;
    await send("three");
    await watcher.until(
      "the lost messages, filled in before the live one",
      () =>
        watcher.events.some((event) => event.kind?.$case === "message" && event.kind.value.text === "three"),
      5_000,
    );
    const texts = watcher.events.flatMap((event) =>
      event.kind?.$case === "message" ? [event.kind.value.text] : [],
    );
    t.same(texts, ["lost one", "lost two", "three"], "the lost messages first, then the live one");
    const seqs = watcher.stored().map((event) => event.seq);
    t.same(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => BigInt(i + 1)),
      "in order, none missing, none twice",
    );
    await watcher.stop();
  },
);
