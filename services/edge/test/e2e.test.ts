import { randomUUID } from "node:crypto";
import t from "tap";
import { startPlatform } from "./harness";
import { WsClient } from "./ws-client";

const RATE = 1000;

t.test(
  "end to end through the edge: register, top up, chat, per-minute charges, auto-end, invoice, review",
  async (t) => {
    const api = await startPlatform(t, {
      session: { MINUTE_SECONDS: "2", METERING_INTERVAL_MS: "200", MIN_MINUTES: "2", HEARTBEAT_MS: "1000" },
    });
    const { userId: expertId, token: expert } = await api.expert();
    const expertWs = await WsClient.connect(api.url);
    t.teardown(() => expertWs.close());
    await expertWs.authenticate(expert);

    // A user funds a wallet through a signed provider webhook.
    const user = await api.register();
    await api.topUp(user.accessToken, RATE * 5);

    // Discovery: the expert is listed and online (presence from the WebSocket).
    let listed: { availability: string } | undefined;
    for (let i = 0; i < 20 && listed?.availability !== "EXPERT_AVAILABILITY_AVAILABLE"; i++) {
      const experts = await api.call("GET", "/v1/experts?specialisation=vedic", { token: user.accessToken });
      listed = experts.body.experts.find((e: { user_id: string }) => e.user_id === expertId);
      if (listed?.availability !== "EXPERT_AVAILABILITY_AVAILABLE")
        await new Promise((r) => setTimeout(r, 250));
    }
    t.equal(listed?.availability, "EXPERT_AVAILABILITY_AVAILABLE");

    // Error paths on the way.
    t.equal(
      (
        await api.call("POST", "/v1/sessions", {
          body: { expert_id: expertId, kind: "SESSION_KIND_CHAT" },
        })
      ).status,
      401,
    );
    const invalid = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: "not-a-uuid", kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(invalid.status, 400);
    const weak = await api.call("POST", "/v1/auth/register", {
      body: { email: "x@example.com", password: "123" },
    });
    t.same(
      weak.body.error.details.field_violations,
      [{ field: "password", description: "must be at least 8 characters" }],
      "400 names the field",
    );

    // The request, the accept, and a chat both ways over WebSockets.
    const requested = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expertId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(requested.status, 200, JSON.stringify(requested.body));
    const sessionId: string = requested.body.session.session_id;
    const again = await api.call("POST", "/v1/sessions", {
      token: user.accessToken,
      body: { expert_id: expertId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(again.status, 409, "one open request per user and expert");

    const stranger = await api.register();
    const peek = await api.call("GET", `/v1/sessions/${sessionId}`, { token: stranger.accessToken });
    t.ok([403, 404].includes(peek.status), "another user's session is not visible");

    const userWs = await WsClient.connect(api.url);
    t.teardown(() => userWs.close());
    await userWs.authenticate(user.accessToken);
    userWs.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    await userWs.waitFor((f) => f.type === "subscribed");
    expertWs.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    await expertWs.waitFor((f) => f.type === "subscribed");

    const accepted = await api.call("POST", `/v1/sessions/${sessionId}:accept`, { token: expert, body: {} });
    t.equal(accepted.status, 200, JSON.stringify(accepted.body));
    await userWs.waitFor((f) => f.event?.status_changed?.status === "SESSION_STATUS_ACTIVE");

    userWs.send({
      type: "send_message",
      id: 1,
      session_id: sessionId,
      kind: "MESSAGE_KIND_TEXT",
      text: "Namaste",
      client_msg_id: "c1",
    });
    const ack = await userWs.waitFor((f) => f.type === "ack" && f.id === 1);
    t.equal(ack.result.message.text, "Namaste");
    const heard = await expertWs.waitFor((f) => f.event?.message?.text === "Namaste");
    expertWs.send({
      type: "send_message",
      id: 2,
      session_id: sessionId,
      kind: "MESSAGE_KIND_TEXT",
      text: "Hello, how can I help?",
      client_msg_id: "e1",
    });
    await userWs.waitFor((f) => f.event?.message?.text === "Hello, how can I help?");
    expertWs.send({
      type: "read",
      id: 3,
      session_id: sessionId,
      delivered_seq: heard.event.seq,
      read_seq: heard.event.seq,
    });
    const receipt = await userWs.waitFor((f) => f.event?.receipt?.user_id === expertId);
    t.equal(receipt.event.receipt.read_seq, heard.event.seq, "the user sees the expert's read receipt");
    userWs.send({ type: "typing", id: 4, session_id: sessionId, typing: true });
    await expertWs.waitFor((f) => f.event?.typing);
    userWs.send({ type: "ping", id: 5 });
    await userWs.waitFor((f) => f.type === "pong" && f.id === 5);

    // A second user connection drops after the first message and resumes from its last seq.
    const flaky = await WsClient.connect(api.url);
    await flaky.authenticate(user.accessToken);
    flaky.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    const seenBeforeDrop = await flaky.waitFor((f) => f.event?.message?.text === "Namaste");
    flaky.close();

    // Minutes are charged until the money runs out; low balance first, then the automatic end.
    const lowBalance = await userWs.waitFor((f) => f.event?.low_balance, 30_000);
    t.ok(Number(lowBalance.event.low_balance.minutes_left) <= 2);
    const ended = await userWs.waitFor(
      (f) => f.event?.status_changed?.status === "SESSION_STATUS_ENDED",
      30_000,
    );
    t.equal(ended.event.status_changed.end_reason, "END_REASON_INSUFFICIENT_FUNDS");
    const charged = userWs
      .events(sessionId)
      .filter((e) => e.minute_charged)
      .map((e) => Number(e.minute_charged.minute));
    t.same(charged, [1, 2, 3, 4, 5], "minutes 1..5 charged, no gap, none twice");

    const resumed = await WsClient.connect(api.url);
    t.teardown(() => resumed.close());
    await resumed.authenticate(user.accessToken);
    resumed.send({ type: "subscribe", session_id: sessionId, after_seq: seenBeforeDrop.event.seq });
    await resumed.waitFor((f) => f.event?.status_changed?.status === "SESSION_STATUS_ENDED");
    const stored = (events: Array<{ seq: string }>) =>
      events.filter((e) => e.seq !== "0").map((e) => Number(e.seq));
    const expected = stored(userWs.events(sessionId)).filter((seq) => seq > Number(seenBeforeDrop.event.seq));
    t.same(
      stored(resumed.events(sessionId)),
      expected,
      "the resumed stream misses nothing and repeats nothing",
    );

    // Settlement: the invoice, the wallet, the review.
    let invoiceId = "";
    for (let i = 0; i < 20 && !invoiceId; i++) {
      const session = await api.call("GET", `/v1/sessions/${sessionId}`, { token: user.accessToken });
      invoiceId = session.body.session.invoice_id;
      if (!invoiceId) await new Promise((r) => setTimeout(r, 250));
    }
    const invoice = await api.call("GET", `/v1/invoices/${invoiceId}`, { token: user.accessToken });
    t.equal(invoice.status, 200);
    t.equal(invoice.body.invoice.total.amount_minor, String(RATE * 5));
    const wallet = await api.call("GET", "/v1/me/wallet", { token: user.accessToken });
    t.equal(wallet.body.wallet.balance.amount_minor, "0");
    const review = await api.call("POST", `/v1/sessions/${sessionId}/reviews`, {
      token: user.accessToken,
      body: { rating: 5, text: "Clear and kind." },
    });
    t.equal(review.status, 200, JSON.stringify(review.body));
    const rated = await api.call("GET", `/v1/experts/${expertId}`);
    t.equal(rated.body.expert.rating_count, 1);
    const twice = await api.call("POST", `/v1/sessions/${sessionId}/reviews`, {
      token: user.accessToken,
      body: { rating: 1, text: "again" },
    });
    t.equal(twice.status, 409, "one review per session");
  },
);

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
