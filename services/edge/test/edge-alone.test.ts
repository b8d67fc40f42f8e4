import t from "tap";
import { CLOSE } from "../src/ws/socket";
import { startLoneEdge } from "./alone";
import { WsClient } from "./ws-client";

// What the platform can't be asked for (auth issues tokens for at least a minute; its services
// are up): this edge runs in-process with real tokens from a test signing key and every
// upstream on a closed port (presence reports there fail and are only logged).
t.test("the edge alone: token expiry, slow consumers, unreachable services", async (t) => {
  const { url, issuer, revocations } = await startLoneEdge(t, {
    WS_FRAMES_PER_SECOND: "10000",
    WS_MAX_BUFFERED_BYTES: String(64 * 1024),
  });
  const shortLived = (userId: string, seconds: number) =>
    issuer.sign({ sub: userId, role: "user", sid: "s", acr: "aal1", amr: ["pwd"] }, seconds);

  await t.test("a token that expires without a fresh auth frame closes the socket with 4001", async (t) => {
    const ws = await WsClient.connect(url);
    const connectedAt = Date.now();
    await ws.authenticate(await shortLived("0190a8f0-0000-7000-8000-000000000001", 2));
    const ready = ws.frames.find((f) => f.type === "ready");
    t.ok(Date.parse(ready.expires_at) > connectedAt, "ready names when the token expires");
    const closed = await ws.closed;
    t.same(closed, { code: CLOSE.unauthenticated, reason: "token expired" });
    t.ok(Date.now() - connectedAt >= 1000, "not before the token's expiry");
  });

  await t.test("an auth frame with a fresh token before expiry keeps the socket open", async (t) => {
    const userId = "0190a8f0-0000-7000-8000-000000000002";
    const ws = await WsClient.connect(url);
    await ws.authenticate(await shortLived(userId, 2));
    await ws.authenticate(await shortLived(userId, 60));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    ws.send({ type: "ping", id: "still-here" });
    t.equal(
      (await ws.waitFor((f) => f.type === "pong")).id,
      "still-here",
      "still served after the first expiry",
    );
    ws.close();
    t.equal((await ws.closed).code, 1005, "closed by the client, not the edge");
  });

  await t.test(
    "a revoked person's sockets signed in before the revocation close with 4003; one signed in again since stays",
    async (t) => {
      const userId = "0190a8f0-0000-7000-8000-000000000003";
      const before = await WsClient.connect(url);
      await before.authenticate(await shortLived(userId, 60));
      // Token issue times are in seconds: the revocation falls strictly between the two tokens'.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const revokedAt = new Date();
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const after = await WsClient.connect(url);
      await after.authenticate(await shortLived(userId, 60));
      revocations.apply([{ seq: 1n, subject: `user:${userId}`, reason: "role_changed", revokedAt }]);
      t.same(await before.closed, { code: CLOSE.revoked, reason: "role_changed" });
      after.send({ type: "ping", id: "signed-in-since" });
      t.equal(
        (await after.waitFor((f) => f.type === "pong")).id,
        "signed-in-since",
        "the newer sign-in is served",
      );
      after.close();
    },
  );

  await t.test(
    "a logged-out session's sockets close with 4003; the person's other sessions stay",
    async (t) => {
      const userId = "0190a8f0-0000-7000-8000-000000000004";
      const token = (sid: string) =>
        issuer.sign({ sub: userId, role: "user", sid, acr: "aal1", amr: ["pwd"] }, 60);
      const laptop = await WsClient.connect(url);
      await laptop.authenticate(await token("laptop"));
      const phone = await WsClient.connect(url);
      await phone.authenticate(await token("phone"));
      revocations.apply([{ seq: 2n, subject: "session:laptop", reason: "logout", revokedAt: new Date() }]);
      t.same(await laptop.closed, { code: CLOSE.revoked, reason: "logout" });
      phone.send({ type: "ping", id: "other-session" });
      t.equal((await phone.waitFor((f) => f.type === "pong")).id, "other-session", "the phone is served");
      phone.close();
    },
  );

  await t.test("an unreachable service is a 503 whose message names no host or port", async (t) => {
    const response = await fetch(`${url}/v1/experts`);
    t.equal(response.status, 503);
    const { error } = (await response.json()) as { error: { status: string; message: string } };
    t.equal(error.status, "UNAVAILABLE");
    t.equal(error.message, "a service is unavailable; retry shortly");
  });

  await t.test("a client that stops reading is closed with 4009 instead of buffered for", async (t) => {
    const ws = await WsClient.connect(url);
    await ws.authenticate(await issuer.userToken());
    ws.pauseReading();
    // Each pong echoes its ~60 KB id: far more than the kernel's socket buffers and the edge's
    // 64 KB allowance together, so unsent data piles up at the edge.
    const bulky = "x".repeat(60 * 1024);
    for (let i = 0; i < 600; i++) ws.send({ type: "ping", id: `${i}-${bulky}` });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    ws.resumeReading();
    const closed = await ws.closed;
    t.same(closed, { code: CLOSE.slowConsumer, reason: "slow consumer" });
    const pongs = ws.frames.filter((f) => f.type === "pong").length;
    t.ok(
      pongs > 0 && pongs < 600,
      `the edge stopped sending when the client fell behind (${pongs} of 600 pongs)`,
    );
  });
});
