// The platform scaled out, as processes on one Postgres and one Redis: two edges, two session and
// two billing instances, one auth and one user. A user on edge A and an expert on edge B run a
// paid chat; presence crosses edges at once; a session instance is killed mid-session and metering
// goes on in the other with every minute charged once; an edge stops and its clients resume on
// the other with no gap.
import { randomUUID } from "node:crypto";
import { httpClient, type LaunchedService, launchTestPlatform } from "@parley/testing";
import t from "tap";
import { type Frame, WsClient } from "../../services/edge/test/ws-client";
import { PASSWORD, world } from "./world";

const RATE = 100;
const MINUTE_SECONDS = 3;

t.setTimeout(150_000);

t.test(
  "two edges, two session and two billing instances: a paid chat across edges survives a killed session instance and a stopped edge",
  {
    skip: process.env.REDIS_URL
      ? false
      : "several instances share live events and presence through Redis: REDIS_URL is not set",
  },
  async (t) => {
    const started = Date.now();
    const lines: Array<{ service: string; line: string }> = [];
    const { platform, secrets } = await launchTestPlatform(
      t,
      {
        // Small pools: eight processes share the test database with whatever else runs.
        auth: { DATABASE_POOL_MAX: "4" },
        user: { DATABASE_POOL_MAX: "4" },
        billing: { DATABASE_POOL_MAX: "4" },
        session: {
          DATABASE_POOL_MAX: "4",
          MINUTE_SECONDS: String(MINUTE_SECONDS),
          METERING_INTERVAL_MS: "200",
          // A killed instance's claims are taken over after this (production: 30).
          METERING_LEASE_SECONDS: "2",
        },
      },
      {
        replicas: { billing: 2, session: 2, edge: 2 },
        onLine: (service, line) => lines.push({ service, line }),
      },
    );
    // On failure, what the services said beyond routine (warnings, errors, feed moves).
    t.teardown(() => {
      if (t.passing()) return;
      for (const { service, line } of lines)
        if (/"level":[45]0|reopen|answered|hand/.test(line)) process.stderr.write(`${service} ${line}\n`);
    });
    t.equal(platform.instances.session.length, 2);
    t.equal(platform.instances.billing.length, 2);
    const [urlA, urlB] = platform.httpUrls as [string, string];
    t.comment(`platform of 8 processes up in ${Date.now() - started} ms`);
    const w = world(t, platform, secrets);
    const edgeA = httpClient(urlA);
    const edgeB = httpClient(urlB);
    const sockets: WsClient[] = [];
    t.teardown(() => {
      for (const socket of sockets) socket.close();
    });
    const connect = async (url: string, token: string) => {
      const socket = await WsClient.connect(url);
      sockets.push(socket);
      await socket.authenticate(token);
      return socket;
    };

    // An expert whose presence comes from their sockets only (no report made for them).
    const expert = await w.register("Multi Expert");
    await w.ok("POST", `/v1/users/${expert.userId}/role`, {
      token: await w.admin(),
      body: { role: "ROLE_EXPERT", reason: "an expert" },
    });
    const expertToken = await w.login(expert.email, PASSWORD);
    await w.ok("PUT", `/v1/experts/${expert.userId}/profile`, {
      token: expertToken,
      body: {
        chat_rate: { amount_minor: String(RATE), currency: "INR" },
        call_rate: { amount_minor: String(RATE), currency: "INR" },
        max_concurrent_sessions: 3,
        specialisations: ["vedic"],
        languages: ["en"],
        experience_years: 3,
      },
    });
    await w.ok("POST", "/v1/me/availability", {
      token: expertToken,
      body: { availability: "EXPERT_AVAILABILITY_AVAILABLE" },
    });
    const availabilityVia = async (edge: typeof edgeA) =>
      (await edge.call("GET", `/v1/experts/${expert.userId}`)).body.expert.availability as string;
    t.equal(await availabilityVia(edgeA), "EXPERT_AVAILABILITY_OFFLINE", "no socket, offline");

    // Presence: set through edge B, seen through edge A at once.
    const expertOnB = await connect(urlB, expertToken);
    const online = Date.now();
    while ((await availabilityVia(edgeA)) !== "EXPERT_AVAILABILITY_AVAILABLE" && Date.now() - online < 5_000)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const seenMs = Date.now() - online;
    t.ok(seenMs < 2_000, `a connection on edge B reads online through edge A within ${seenMs} ms`);

    // The expert opens a second connection on edge A and closes the one on B: edge B reports
    // them offline, and edge A (still holding them) says online again at once, not at the next
    // heartbeat 30 s later.
    const expertOnA = await connect(urlA, expertToken);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expertOnB.close();
    await expertOnB.closed;
    const closedAt = Date.now();
    // Edge B's offline report lands first; edge A's hand-off answer follows within moments.
    await new Promise((resolve) => setTimeout(resolve, 200));
    while (
      (await availabilityVia(edgeB)) !== "EXPERT_AVAILABILITY_AVAILABLE" &&
      Date.now() - closedAt < 10_000
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    const backMs = Date.now() - closedAt;
    const samples: string[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(await availabilityVia(edgeB));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.ok(
      backMs < 5_000,
      `online again ${backMs} ms after the connection on edge B closed (heartbeats: 30 s)`,
    );
    t.same(
      [...new Set(samples)],
      ["EXPERT_AVAILABILITY_AVAILABLE"],
      "a second connection on another edge keeps the expert online (the bus hand-off, not a heartbeat)",
    );
    // The expert moves back to edge B for the chat.
    const expertWs = await connect(urlB, expertToken);
    expertOnA.close();
    await expertOnA.closed;

    // A paid chat: the user on edge A, the expert on edge B.
    const user = await w.register("Multi User");
    await w.fund(user.userId, RATE * 100);
    const userWs = await connect(urlA, user.token);
    const requested = await edgeA.call("POST", "/v1/sessions", {
      token: user.token,
      body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
    });
    t.equal(requested.status, 200, "the user requests a chat through edge A");
    const sessionId: string = requested.body.session.session_id;
    userWs.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    await userWs.waitFor((f) => f.type === "subscribed");
    expertWs.send({ type: "subscribe", session_id: sessionId, after_seq: "0" });
    await expertWs.waitFor((f) => f.type === "subscribed");
    const accepted = await edgeB.call("POST", `/v1/sessions/${sessionId}:accept`, {
      token: expertToken,
      body: {},
    });
    t.equal(accepted.status, 200, "the expert accepts through edge B");
    await userWs.waitFor((f) => f.event?.status_changed?.status === "SESSION_STATUS_ACTIVE");

    let frameId = 0;
    let resent = 0;
    /** A chat message over the socket, sent again (same client_msg_id: idempotent) on UNAVAILABLE, as apps do. */
    const say = async (socket: WsClient, text: string) => {
      const clientMsgId = randomUUID();
      for (let attempt = 1; ; attempt++) {
        const id = ++frameId;
        socket.send({
          type: "send_message",
          id,
          session_id: sessionId,
          kind: "MESSAGE_KIND_TEXT",
          text,
          client_msg_id: clientMsgId,
        });
        const answer = await socket.waitFor((f) => (f.type === "ack" || f.type === "error") && f.id === id);
        if (answer.type === "error" && answer.error.status === "UNAVAILABLE" && attempt < 3) {
          resent++;
          continue;
        }
        t.equal(answer.type, "ack", `"${text}" is accepted: ${JSON.stringify(answer.error ?? "")}`);
        return;
      }
    };
    await say(userWs, "Namaste from edge A");
    const heard = await expertWs.waitFor((f) => f.event?.message?.text === "Namaste from edge A");
    await say(expertWs, "Hello from edge B");
    await userWs.waitFor((f) => f.event?.message?.text === "Hello from edge B");
    expertWs.send({
      type: "read",
      id: ++frameId,
      session_id: sessionId,
      delivered_seq: heard.event.seq,
      read_seq: heard.event.seq,
    });
    const receipt = await userWs.waitFor((f) => f.event?.receipt?.user_id === expert.userId);
    t.equal(receipt.event.receipt.read_seq, heard.event.seq, "the expert's read receipt crosses edges");

    const minutes = (socket: WsClient) =>
      socket
        .events(sessionId)
        .filter((e: Frame) => e.minute_charged)
        .map((e: Frame) => Number(e.minute_charged.minute));
    const minuteReached = (socket: WsClient, minute: number, timeoutMs = 20_000) =>
      socket.waitFor((f) => Number(f.event?.minute_charged?.minute ?? 0) >= minute, timeoutMs);
    await minuteReached(userWs, 1);
    await minuteReached(expertWs, 1);
    t.ok(minutes(userWs).length >= 1, "minutes are charged and both sides see them");

    const upTo = (list: number[]) => Array.from({ length: list.length }, (_, i) => i + 1);
    const reopened = () =>
      lines.filter((l) => l.service === "edge" && l.line.includes("session stream lost; reopening")).length;
    /** SIGKILL (no drain: its claims are left to expire), then chat and two more minutes on what is left. */
    const kill = async (victim: (typeof platform.instances.session)[number], label: string) => {
      const at = Math.max(...minutes(userWs));
      victim.process.kill("SIGKILL");
      await new Promise<void>((resolve) =>
        victim.process.exitCode !== null || victim.process.signalCode !== null
          ? resolve()
          : victim.process.once("exit", () => resolve()),
      );
      await say(userWs, `still there? (${label})`);
      await expertWs.waitFor((f) => f.event?.message?.text === `still there? (${label})`);
      await say(expertWs, `yes (${label})`);
      await userWs.waitFor((f) => f.event?.message?.text === `yes (${label})`);
      await minuteReached(userWs, at + 2);
      await minuteReached(expertWs, at + 2);
      t.same(
        minutes(userWs),
        upTo(minutes(userWs)),
        `${label} killed after minute ${at}: metering went on in the other, minutes ${minutes(userWs).join(", ")}, each once`,
      );
      t.same(
        minutes(expertWs),
        upTo(minutes(expertWs)),
        "the expert's stream shows the same minutes, each once",
      );
    };
    // One session instance dies mid-session.
    const [first, second] = platform.instances.session as [LaunchedService, LaunchedService];
    await kill(first, "session 1");
    const afterFirst = reopened();
    // It comes back on its port, and then the other dies: whichever instance the edges' session
    // feeds were on, by now they have had to move, and the sockets saw nothing of it.
    await first.respawn!();
    await kill(second, "session 2");
    t.ok(
      reopened() > afterFirst,
      `the edges reopened their session feeds on the survivor (${reopened()} reopened)`,
    );

    // Edge B stops (SIGTERM: its sockets are told 1012); the expert reconnects to edge A and
    // resumes from the last seq it had when the socket closed (a minute's event can still
    // arrive while the edge stops).
    await platform.instances.edge[1]!.stop();
    t.equal((await expertWs.closed).code, 1012, "the stopping edge tells its clients to reconnect");
    const lastSeen = Math.max(...expertWs.events(sessionId).map((e: Frame) => Number(e.seq)));
    const resumed = await connect(urlA, expertToken);
    resumed.send({ type: "subscribe", session_id: sessionId, after_seq: String(lastSeen) });
    await resumed.waitFor((f) => f.type === "subscribed");
    await say(userWs, "after the edge stopped");
    await resumed.waitFor((f) => f.event?.message?.text === "after the edge stopped");
    const beforeEnd = minutes(userWs).at(-1)!;
    await minuteReached(resumed, beforeEnd + 1);
    const ended = await edgeA.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.token, body: {} });
    t.equal(ended.status, 200, "the user ends the chat");
    await userWs.waitFor((f) => f.event?.status_changed?.status === "SESSION_STATUS_ENDED");
    await resumed.waitFor((f) => f.event?.status_changed?.status === "SESSION_STATUS_ENDED");

    const stored = (socket: WsClient) =>
      socket
        .events(sessionId)
        .map((e: Frame) => Number(e.seq))
        .filter((seq: number) => seq > 0);
    const expertSeqs = [...stored(expertWs), ...stored(resumed)];
    t.same(
      expertSeqs,
      stored(userWs),
      "the expert's two connections together saw every stored event once, in order",
    );
    t.same(
      stored(userWs),
      Array.from({ length: stored(userWs).length }, (_, i) => i + 1),
      "and those are every seq of the session, no gap",
    );
    t.same(minutes(userWs), upTo(minutes(userWs)), `minutes 1..${minutes(userWs).length}, each charged once`);
    t.equal(
      (await edgeA.call("GET", "/v1/me/wallet", { token: user.token })).body.wallet.balance.amount_minor,
      String(RATE * 100 - RATE * minutes(userWs).length),
      "the wallet paid exactly those minutes",
    );
    t.comment(`whole run ${Date.now() - started} ms; messages sent again after UNAVAILABLE: ${resent}`);
  },
);
