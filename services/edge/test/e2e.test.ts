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
