import { createAuthenticator } from "@parley/kit/auth";
import { parseConfig } from "@parley/kit/config";
import { createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { userNotifier } from "@parley/kit/notify";
import { SessionKind, SessionServiceService, SessionStatus } from "@parley/proto/parley/session/v1/session";
import { createTestDatabase, spawnService } from "@parley/testing";
import t from "tap";
import { sessionConfigShape } from "../src/config";
import { startSession } from "../src/server";
import { failure, startHarness } from "./harness";

t.test("startSession migrates, serves, runs the metering loop and shuts down cleanly", async (t) => {
  const harness = await startHarness(t);
  const { url } = await createTestDatabase(t);
  const config = parseConfig(sessionConfigShape, {
    DATABASE_URL: url,
    PAGE_TOKEN_SECRET: "startup-test-page-token-secret-0123456789",
    GRPC_PORT: "0",
    METERING_INTERVAL_MS: "20",
    JWT_ISSUER: harness.issuer.issuer,
  });
  t.equal(config.MIN_MINUTES, 5, "defaults apply");
  const { server, port } = await startSession(config, createLogger({ service: "session", level: "silent" }), {
    authenticate: createAuthenticator({ tokens: harness.issuer.verifier }),
    billing: harness.billingPort,
    experts: harness.experts,
    notifier: userNotifier(harness.user),
    // Nothing in this test blocks anyone, hides a review or ends a session: nothing to mirror.
    mirror: { apply: async () => undefined, publishMetrics: async () => undefined },
  });
  const client = createServiceClient(SessionServiceService, { address: `127.0.0.1:${port}` });
  const user = await harness.person();
  const missing = await failure(client.getSession({ sessionId: newId() }, user.call));
  t.equal(missing.reason, "SESSION_NOT_FOUND");
  const expert = await harness.expert();
  await harness.fund(user.userId, 10_000n);
  const { session } = await client.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
    user.call,
  );
  const watcher = client
    .watchSession({ sessionId: session!.sessionId, afterSeq: 0n }, user.call)
    [Symbol.asyncIterator]();
  t.ok((await watcher.next()).value, "a watcher is streaming");
  const ending = failure(
    (async () => {
      while (!(await watcher.next()).done);
    })(),
  );
  await server.shutdown(1_000);
  t.equal((await ending).reason, "SHUTTING_DOWN", "shutdown ends watchers with UNAVAILABLE, to reconnect");
  t.equal((await ending).kind, "unavailable");
  client.close();
  t.throws(
    () => parseConfig(sessionConfigShape, { DATABASE_URL: "mysql://x", MIN_MINUTES: "0" }),
    /DATABASE_URL[\s\S]*MIN_MINUTES/,
  );
});

t.test("main.ts serves as a process wired to the real billing and user services", async (t) => {
  const harness = await startHarness(t);
  const { url } = await createTestDatabase(t);
  const sessionProcess = await spawnService(t, "session", await harness.processEnv(url));
  const client = createServiceClient(SessionServiceService, { address: sessionProcess.address });
  t.teardown(() => client.close());
  const user = await harness.person();
  const expert = await harness.expert();
  await harness.fund(user.userId, 10_000n);
  const { session } = await client.requestSession(
    { expertId: expert.userId, kind: SessionKind.SESSION_KIND_CHAT, requestId: newId() },
    user.call,
  );
  t.equal(
    session!.status,
    SessionStatus.SESSION_STATUS_WAITING,
    "expert read from user, hold placed in billing",
  );
  const accepted = await client.acceptSession({ sessionId: session!.sessionId }, expert.call);
  t.equal(accepted.session!.status, SessionStatus.SESSION_STATUS_ACTIVE);
  t.equal((await harness.expertState(expert.userId)).activeSessions, 1, "load reported to user");
});
