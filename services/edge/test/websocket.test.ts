import { randomUUID } from "node:crypto";
import t from "tap";
import { startPlatform } from "./harness";
import { WsClient } from "./ws-client";

const RATE = 1000;

t.test(
  "WebSocket protocol guards: authentication first, bad frames, oversize frames, restart close code",
  async (t) => {
    const api = await startPlatform(t, { edge: { WS_MAX_FRAME_BYTES: "4096" } });
    const person = await api.register();

    const early = await WsClient.connect(api.url);
    early.send({ type: "subscribe", session_id: randomUUID(), after_seq: "0" });
    t.equal((await early.closed).code, 4001, "frames before auth close the connection");

    const forged = await WsClient.connect(api.url);
    forged.send({ type: "auth", token: "not-a-token" });
    t.equal((await forged.closed).code, 4001, "an invalid token closes it");

    const ws = await WsClient.connect(api.url);
    await ws.authenticate(person.accessToken);
    ws.send("{not json");
    t.equal((await ws.waitFor((f) => f.type === "error")).error.reason, "INVALID_FRAME");
    ws.send({ type: "launch_rockets", id: 9 });
    t.equal((await ws.waitFor((f) => f.type === "error" && f.id === 9)).error.reason, "UNKNOWN_FRAME");
    ws.send({ type: "subscribe", session_id: randomUUID(), after_seq: "0" });
    const notFound = await ws.waitFor((f) => f.type === "error" && f.session_id);
    t.equal(notFound.error.status, "NOT_FOUND");
    ws.send({ type: "subscribe", after_seq: "0" });
    t.match(
      (await ws.waitFor((f) => f.type === "error" && /session_id/.test(f.error.message))).error,
      { reason: "INVALID_FRAME" },
      "a subscription names one session",
    );
    await ws.authenticate(person.accessToken);
    t.equal(
      ws.frames.filter((f) => f.type === "ready").length,
      2,
      "re-authentication on the open connection",
    );
    const borrowed = await WsClient.connect(api.url);
    await borrowed.authenticate(person.accessToken);
    borrowed.send({ type: "auth", token: (await api.register()).accessToken });
    t.same(
      await borrowed.closed,
      { code: 4001, reason: "a connection belongs to one person" },
      "a fresh token extends a connection, never hands it to someone else",
    );
    ws.send({ type: "ping", pad: "x".repeat(5000) });
    t.equal((await ws.closed).code, 1009, "oversize frames close with 1009");

    const chatty = await WsClient.connect(api.url);
    await chatty.authenticate(person.accessToken);
    for (let i = 0; i < 100; i++) chatty.send({ type: "ping", id: i });
    t.equal((await chatty.closed).code, 1008, "a flood of frames closes with 1008");

    const last = await WsClient.connect(api.url);
    await last.authenticate(person.accessToken);
    await api.platform.stop();
    t.equal((await last.closed).code, 1012, "shutdown tells clients to reconnect (1012)");
  },
);

t.test("WebSocket presence: a person stays online until their last connection closes", async (t) => {
  const api = await startPlatform(t);
  const expert = await api.expert();
  const availability = async () =>
    (await api.call("GET", `/v1/experts/${expert.userId}`)).body.expert.availability as string;
  const until = async (wanted: string) => {
    for (let i = 0; i < 40 && (await availability()) !== wanted; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    return availability();
  };
  const phone = await WsClient.connect(api.url);
  await phone.authenticate(expert.token);
  const laptop = await WsClient.connect(api.url);
  await laptop.authenticate(expert.token);
  t.equal(await until("EXPERT_AVAILABILITY_AVAILABLE"), "EXPERT_AVAILABILITY_AVAILABLE");
  phone.close();
  await phone.closed;
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(
    await availability(),
    "EXPERT_AVAILABILITY_AVAILABLE",
    "one of two connections closing changes nothing",
  );
  laptop.close();
  t.equal(
    await until("EXPERT_AVAILABILITY_OFFLINE"),
    "EXPERT_AVAILABILITY_OFFLINE",
    "the last one signs off",
  );
});

t.test(
  "WebSocket fan-out: one upstream stream per session; late and resuming sockets get every event once, in order",
  async (t) => {
    // A feed memory of 3 events: a socket joining from the start must catch up from Postgres.
    const api = await startPlatform(t, { edge: { WS_FEED_MEMORY_EVENTS: "3" } });
    const expert = await api.expert();
    // The expert's own connection makes them present (available to be asked).
    const late = await WsClient.connect(api.url);
    t.teardown(() => late.close());
    await late.authenticate(expert.token);
    for (let i = 0; i < 40; i++) {
      const listed = await api.call("GET", `/v1/experts/${expert.userId}`);
      if (listed.body.expert.availability === "EXPERT_AVAILABILITY_AVAILABLE") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const user = await api.register();
    await api.topUp(user.accessToken, RATE * 10);
    const requested = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    const sessionId: string = requested.body.session.session_id;
    t.equal(
      (await api.call("POST", `/v1/sessions/${sessionId}:accept`, { token: expert.token, body: {} })).status,
      200,
    );

    const stranger = await WsClient.connect(api.url);
    t.teardown(() => stranger.close());
    await stranger.authenticate((await api.register()).accessToken);
    stranger.send({ type: "subscribe", id: "peek", session_id: sessionId, after_seq: "0" });
    const refused = await stranger.waitFor((f) => f.type === "error");
    t.match(refused, {
      id: "peek",
      session_id: sessionId,
      error: { status: "NOT_FOUND", request_id: /^[0-9a-f-]{36}$/ },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.notOk(
      stranger.frames.some((f) => f.type === "subscribed" || f.type === "event"),
      "a session you may not see is never acknowledged, nor streamed",
    );

    const first = await WsClient.connect(api.url);
    t.teardown(() => first.close());
    await first.authenticate(user.accessToken);
    first.send({ type: "subscribe", id: 1, session_id: sessionId, after_seq: "0" });
    t.match(await first.waitFor((f) => f.type === "subscribed"), { id: 1, session_id: sessionId });
    const say = async (text: string) => {
      const sent = await api.call("POST", `/v1/sessions/${sessionId}/messages`, {
        token: user.accessToken,
        body: { kind: "MESSAGE_KIND_TEXT", text, client_msg_id: randomUUID() },
      });
      t.equal(sent.status, 200, JSON.stringify(sent.body));
      return sent.body.message.seq as string;
    };
    for (let i = 1; i <= 8; i++) await say(`before ${i}`);
    await first.waitFor((f) => f.event?.message?.text === "before 8");
    const sixth = first.events(sessionId).find((e) => e.message?.text === "before 6");

    // From the start (older than the feed remembers: Postgres first), and from the middle.
    late.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    const resumed = await WsClient.connect(api.url);
    t.teardown(() => resumed.close());
    await resumed.authenticate(user.accessToken);
    resumed.send({ type: "subscribe", session_id: sessionId, after_seq: sixth.seq });
    await late.waitFor((f) => f.event?.message?.text === "before 8");
    await resumed.waitFor((f) => f.event?.message?.text === "before 8");
    for (let i = 1; i <= 3; i++) await say(`after ${i}`);
    for (const ws of [first, late, resumed]) await ws.waitFor((f) => f.event?.message?.text === "after 3");

    const metrics = await api.call("GET", "/metrics");
    t.match(
      metrics.body,
      /^edge_session_feeds\{[^}]*\} 1$/m,
      "three sockets, one session: one upstream stream",
    );

    const stored = (ws: WsClient) =>
      ws
        .events(sessionId)
        .map((e) => Number(e.seq))
        .filter((seq) => seq > 0);
    const head = Math.max(...stored(first));
    const range = (from: number) => Array.from({ length: head - from }, (_, i) => from + 1 + i);
    t.same(stored(first), range(0), "from the start: every stored seq once, in order");
    t.same(
      stored(late),
      range(0),
      "joining late from 0: replayed from Postgres, then the feed, no gap or repeat",
    );
    t.same(stored(resumed), range(Number(sixth.seq)), "resuming after a seq: what followed it, once");
  },
);
