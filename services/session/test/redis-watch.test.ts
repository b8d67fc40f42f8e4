import { createAuthenticator } from "@parley/kit/auth";
import { createRedisBus } from "@parley/kit/bus";
import { createDatabase } from "@parley/kit/db";
import { createServiceClient } from "@parley/kit/grpc";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { MessageKind, SessionServiceService } from "@parley/proto/parley/session/v1/session";
import { startTestServer } from "@parley/testing";
import t from "tap";
import { DEFAULT_RULES } from "../src/domain/sessions";
import { createSessionService } from "../src/server";
import { startHarness } from "./harness";

const redisUrl = process.env.REDIS_URL;

t.test(
  "a watcher on one instance sees messages sent through another (Redis bus)",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const harness = await startHarness(t);
    const [row] = await harness.sql`select current_database() as name`;
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${row!.name}`;
    const database = createDatabase(url.toString(), { max: 5 });
    t.teardown(database.close);
    const busA = createRedisBus(redisUrl!);
    const busB = createRedisBus(redisUrl!);
    t.teardown(() => Promise.all([busA.close(), busB.close()]).then(() => undefined));
    const log = createLogger({ service: "session", level: "silent" });
    const start = async (bus: typeof busA) => {
      const service = createSessionService({
        sql: database.sql,
        bus,
        billing: harness.billingPort,
        experts: harness.experts,
        rules: DEFAULT_RULES,
        log,
        now: () => harness.clock.now,
      });
      const { address } = await startTestServer(t, {
        name: "session",
        services: [service.binding],
        authenticate: createAuthenticator({ tokens: harness.issuer.verifier }),
      });
      const client = createServiceClient(SessionServiceService, { address });
      t.teardown(() => client.close());
      return client;
    };
    const [a, b] = [await start(busA), await start(busB)];
    const { user, expert, sessionId } = await harness.activeSession();
    const stream = b.watchSession({ sessionId, afterSeq: 0n }, expert.call);
    const texts: string[] = [];
    let typingFrom = "";
    const reading = (async () => {
      for await (const event of stream) {
        if (event.kind?.$case === "message") texts.push(event.kind.value.text);
        if (event.kind?.$case === "typing") typingFrom = event.kind.value.userId;
        if (typingFrom && texts.length === 10) return;
      }
    })();
    for (let i = 0; i < 10; i++)
      await a.sendMessage(
        {
          sessionId,
          kind: MessageKind.MESSAGE_KIND_TEXT,
          text: `m${i}`,
          attachmentUrl: "",
          attachmentContentType: "",
          clientMsgId: newId(),
        },
        user.call,
      );
    // Typing is ephemeral: it reaches instance B's watcher only live, through Redis.
    while (!typingFrom) {
      await a.sendTyping({ sessionId, typing: true }, user.call);
      await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    await reading;
    stream.cancel();
    t.equal(typingFrom, user.userId, "live events cross instances");
    t.same(
      texts,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
      "in order, none missing, none twice",
    );
  },
);
