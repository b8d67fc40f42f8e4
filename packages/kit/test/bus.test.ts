import { createRedisBus } from "@parley/kit/bus";
import { Registry } from "@parley/kit/metrics";
import { connectRedis } from "@parley/kit/redis";
import { redisServerMissing, startThrowawayRedis } from "@parley/testing";
import t from "tap";

const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

async function dropped(registry: Registry, reason: string): Promise<number> {
  const metric = await registry.getSingleMetric("bus_publish_dropped_total")!.get();
  return metric.values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

t.test(
  "the Redis bus never makes a publisher wait, counts what it drops, and tells subscribers when delivery broke",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const registry = new Registry();
    const publisher = createRedisBus(redis.url, { registry });
    const subscriber = createRedisBus(redis.url);
    t.teardown(async () => {
      await publisher.close();
      await subscriber.close();
    });
    const received: string[] = [];
    let interruptions = 0;
    subscriber.onInterruption(() => {
      interruptions += 1;
    });
    await waitFor("both buses to connect", () => publisher.isLive() && subscriber.isLive());
    await subscriber.subscribe("topic", (message) => received.push(message.toString()));
    t.equal(publisher.publish("topic", Buffer.from("one")), undefined, "publish returns nothing to wait on");
    await waitFor("the first message", () => received.length === 1);
    t.same(received, ["one"]);
    const before = interruptions;
    const releasedWhileDown = await subscriber.subscribe("released while down", () => undefined);

    await redis.kill();
    await waitFor("the subscriber to notice", () => !subscriber.isLive());
    t.ok(interruptions > before, "subscribers are told the moment live delivery broke");
    const started = process.hrtime.bigint();
    for (let i = 0; i < 1_000; i++) publisher.publish("topic", Buffer.from(`lost ${i}`));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    t.ok(elapsedMs < 200, `1,000 publishes with Redis dead took ${elapsedMs.toFixed(1)} ms`);
    const lost = async () => (await dropped(registry, "unavailable")) + (await dropped(registry, "failed"));
    await waitFor("the drops to be counted", async () => (await lost()) >= 1_000);
    t.equal(await lost(), 1_000, "each one counted as dropped");
    let lateSubscription = "";
    const unsubscribe = await subscriber.subscribe("late", (message) => {
      lateSubscription = message.toString();
    });
    t.pass("subscribing while Redis is down does not fail");
    await releasedWhileDown();

    const whileDown = interruptions;
    await redis.restart();
    await waitFor("both buses to reconnect", () => publisher.isLive() && subscriber.isLive(), 15_000);
    t.ok(interruptions > whileDown, "and again once delivery is back, to catch up");
    publisher.publish("topic", Buffer.from("two"));
    publisher.publish("late", Buffer.from("made while Redis was down"));
    await waitFor("delivery after the restart", () => received.includes("two") && lateSubscription !== "");
    t.notOk(
      received.some((message) => message.startsWith("lost")),
      "what was dropped is not replayed from a buffer",
    );
    t.equal(lateSubscription, "made while Redis was down", "a subscription made during the outage is live");
    const probe = connectRedis(redis.url, { name: "probe" });
    t.teardown(() => probe.disconnect());
    t.same(
      ((await probe.pubsub("CHANNELS")) as string[]).sort(),
      ["late", "topic"],
      "a topic released during the outage is not subscribed again",
    );
    await unsubscribe();
  },
);

t.test(
  "a hung Redis fills the bounded buffer; the overflow is dropped and counted, never waited for",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const registry = new Registry();
    const bus = createRedisBus(redis.url, { registry, bufferSize: 100 });
    t.teardown(async () => {
      redis.thaw();
      await bus.close();
    });
    await waitFor("the bus to connect", () => bus.isLive());
    redis.freeze();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 2_000; i++) bus.publish("topic", Buffer.from(`m${i}`));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    t.ok(elapsedMs < 200, `2,000 publishes to a hung Redis took ${elapsedMs.toFixed(1)} ms`);
    // Published in one turn: 100 wait in the buffer, the rest are dropped at once.
    t.equal(await dropped(registry, "buffer_full"), 2_000 - 100);
  },
);
