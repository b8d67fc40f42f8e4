import { randomUUID } from "node:crypto";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { createLogger } from "@parley/kit/log";
import t, { type Test } from "tap";
import { loadCatalogue } from "../src/http/catalogue";
import { createUpstreams } from "../src/upstreams";
import { createSessionFeeds, type FeedMember } from "../src/ws/feeds";

/**
 * Session feeds over a real grpc-js server whose WatchSession hands each call to the test: every
 * call, and the after_seq it asked for.
 */
async function feedsOverServer(t: Test) {
  const { registry } = loadCatalogue();
  const eventDesc = registry.getMessage("parley.session.v1.SessionEvent") as DescMessage;
  const requestDesc = registry.getMessage("parley.session.v1.WatchSessionRequest") as DescMessage;
  const sessionId = randomUUID();
  const event = (seq: number) =>
    Buffer.from(toBinary(eventDesc, create(eventDesc, { seq: BigInt(seq), sessionId } as never)));

  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  const calls: Array<{ call: grpc.ServerWritableStream<Buffer, Buffer>; afterSeq: number }> = [];
  server.register(
    "/parley.session.v1.SessionService/WatchSession",
    (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const request = fromBinary(requestDesc, call.request) as unknown as { afterSeq: bigint };
      calls.push({ call, afterSeq: Number(request.afterSeq) });
    },
    raw,
    raw,
    "serverStream",
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  t.teardown(() => server.forceShutdown());
  const address = `127.0.0.1:${port}`;
  const upstreams = createUpstreams({ auth: address, user: address, session: address, billing: address });
  t.teardown(() => upstreams.close());
  const feeds = createSessionFeeds({
    registry,
    upstreams,
    log: createLogger({ service: "test", level: "silent" }),
    ringSize: 10,
  });
  t.teardown(() => feeds.closeAll());
  /** Resolves with the `n`th WatchSession call (1-based) once it has come. */
  const call = async (n: number) => {
    for (let i = 0; i < 100 && calls.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    return calls[n - 1];
  };
  return { sessionId, event, feeds, calls, call };
}

const seqOf = (frame: Buffer) => Number(/"seq":"(\d+)"/.exec(frame.toString())?.[1]);

// A session feed over a real grpc-js WatchSession stream, with more sockets than one write
// batch: every socket gets every frame once and in order, at most a batch per turn of the event
// loop, sockets that leave get nothing more and one that joins midway misses nothing.
t.test("session feeds: frames for more sockets than one batch", async (t) => {
  const { sessionId, event, feeds, call } = await feedsOverServer(t);

  // Sends in one synchronous run (one callback of the event loop, up to its microtasks).
  let run = 0;
  let longestRun = 0;
  const received = new Map<FeedMember, number[]>();
  const member = (): FeedMember => {
    const joined: FeedMember = {
      sessionId,
      lastSeq: 0,
      live: false,
      credentials: () => ({ token: "token", clientIp: "127.0.0.1" }),
      send: (frame) => {
        if (run++ === 0)
          queueMicrotask(() => {
            longestRun = Math.max(longestRun, run);
            run = 0;
          });
        received.get(joined)!.push(seqOf(frame));
      },
      ended: () => {},
    };
    received.set(joined, []);
    return joined;
  };
  const members = Array.from({ length: 250 }, member);
  for (const m of members) feeds.join(m, 0);
  const upstream = (await call(1))?.call;

  const leaver = members[249]!;
  for (let seq = 1; seq <= 3; seq++) upstream!.write(event(seq));
  const late = member();
  for (let i = 0; i < 20 && received.get(members[0]!)!.length === 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  feeds.leave(leaver);
  const hadWhenLeaving = received.get(leaver)!.length;
  feeds.join(late, 0);
  for (let seq = 4; seq <= 5; seq++) upstream!.write(event(seq));
  const expected = [1, 2, 3, 4, 5];
  const done = () => members.slice(0, 249).every((m) => received.get(m)!.length === expected.length);
  for (let i = 0; i < 40 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));

  t.ok(
    members.slice(0, 249).every((m) => received.get(m)!.join() === expected.join()),
    "every socket that stayed has every frame once, in order",
  );
  t.same(received.get(late), expected, "one that joined midway has them all too, once, in order");
  t.equal(received.get(leaver)!.length, hadWhenLeaving, "one that left gets nothing after it left");
  t.equal(longestRun, 100, "at most 100 sockets are written to in one turn of the event loop");
});

t.test(
  "session feeds: a stream the session instance cancels is opened again, after the last event it had",
  async (t) => {
    const { sessionId, event, feeds, calls, call } = await feedsOverServer(t);
    const received: number[] = [];
    const ended: unknown[] = [];
    feeds.join(
      {
        sessionId,
        lastSeq: 0,
        live: false,
        credentials: () => ({ token: "token", clientIp: "127.0.0.1" }),
        send: (frame) => received.push(seqOf(frame)),
        ended: (error) => ended.push(error),
      },
      0,
    );
    const first = (await call(1))!.call;
    first.write(event(1));
    for (let i = 0; i < 50 && received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    // What a client sees of an instance that stopped past its grace (grpc-js forceShutdown).
    first.emit("error", { code: grpc.status.CANCELLED, details: "Cancelled" });
    const second = await call(2);
    t.ok(second, "a new WatchSession is opened");
    t.equal(second?.afterSeq, 1, "after the last event the feed had");
    second?.call.write(event(2));
    for (let i = 0; i < 50 && received.length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    t.same(received, [1, 2], "the socket misses nothing");
    t.same(ended, [], "and its subscription goes on");
    t.equal(calls.length, 2);
  },
);
