import { newId } from "@parley/kit/ids";
import { ExpertAvailability } from "@parley/proto/parley/user/v1/user";
import { redisServerMissing, startThrowawayRedis } from "@parley/testing";
import t from "tap";
import { createInProcessPresence, createRedisPresence } from "../src/persistence/presence";
import { startHarness } from "./harness";

t.test("in-process presence: online until the TTL passes on the injected clock", async (t) => {
  let now = new Date("2026-01-01T00:00:00Z");
  const presence = createInProcessPresence(30, () => now);
  const [alice, bob] = [newId(), newId()];
  t.same(await presence.heartbeat(alice), new Date("2026-01-01T00:00:30Z"));
  await presence.heartbeat(bob);
  t.same(await presence.onlineAmong([alice, bob, newId()]), new Set([alice, bob]));
  now = new Date("2026-01-01T00:00:20Z");
  await presence.heartbeat(bob);
  now = new Date("2026-01-01T00:00:30Z");
  t.same(
    await presence.onlineAmong([alice, bob]),
    new Set([bob]),
    "alice expired at exactly her TTL; bob renewed",
  );
  await presence.signOff(bob);
  t.same(await presence.onlineAmong([alice, bob]), new Set(), "signing off is immediate");
});

const redisUrl = process.env.REDIS_URL;
t.test(
  "Redis presence: shared between instances and expiring by itself",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const prefix = `parley:test:${newId()}:`;
    // Two stores = two service instances; a one-second TTL is the shortest Redis PX we rely on.
    const first = createRedisPresence(redisUrl ?? "", 1, prefix);
    const second = createRedisPresence(redisUrl ?? "", 1, prefix);
    t.teardown(async () => {
      await first.close();
      await second.close();
    });
    const alice = newId();
    await first.heartbeat(alice);
    t.same(await second.onlineAmong([alice]), new Set([alice]), "another instance sees the heartbeat");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    t.same(await second.onlineAmong([alice]), new Set(), "the key expired without a heartbeat");
    await second.heartbeat(alice);
    await first.signOff(alice);
    t.same(await second.onlineAmong([alice]), new Set(), "sign-off is shared");
    t.same(await first.onlineAmong([]), new Set());
  },
);

t.test(
  "through the server with Redis presence: an expert without heartbeats goes offline by itself",
  { skip: !redisUrl && "REDIS_URL is not set" },
  async (t) => {
    const presence = createRedisPresence(redisUrl ?? "", 2, `parley:test:${newId()}:`);
    t.teardown(() => presence.close());
    const h = await startHarness(t, { presence });
    const expert = await h.expert({ specialisations: ["redis-presence"] });
    await h.client.setAvailability(
      { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
      expert.call,
    );
    const listed = async () =>
      (
        await h.client.listExperts({
          specialisation: "redis-presence",
          language: "",
          availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
          rateKind: 0,
          minRate: undefined,
          maxRate: undefined,
          minRating: 0,
          sort: 0,
          pageSize: 0,
          pageToken: "",
        })
      ).experts.map((e) => e.userId);
    await h.client.reportPresence({ userId: expert.userId, online: true }, h.as.edge);
    t.same(await listed(), [expert.userId]);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      ExpertAvailability.EXPERT_AVAILABILITY_OFFLINE,
    );
    t.same(await listed(), [], "no longer listed as available");
  },
);

t.test(
  "Redis gone: presence degrades to what this instance heard, and reports never fail",
  { skip: redisServerMissing() },
  async (t) => {
    const redis = await startThrowawayRedis(t);
    const prefix = `parley:test:${newId()}:`;
    // Two stores = two service instances.
    const first = createRedisPresence(redis.url, 30, prefix);
    const second = createRedisPresence(redis.url, 30, prefix);
    t.teardown(async () => {
      await first.close();
      await second.close();
    });
    const heard = newId();
    await first.heartbeat(heard);
    t.same(await second.onlineAmong([heard]), new Set([heard]), "shared while Redis answers");

    await redis.kill();
    const started = Date.now();
    t.same(await first.onlineAmong([heard, newId()]), new Set([heard]), "this instance's heartbeats");
    t.same(await second.onlineAmong([heard]), new Set(), "another instance's are not known here");
    const late = newId();
    await first.heartbeat(late);
    t.same(await first.onlineAmong([late]), new Set([late]), "a heartbeat during the outage counts");
    await first.signOff(heard);
    t.same(await first.onlineAmong([heard]), new Set(), "and so does a sign-off");
    t.ok(Date.now() - started < 1_000, `nothing waited on the dead server (${Date.now() - started} ms)`);

    await redis.restart();
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the clients reconnect (≤ 2 s apart)
    await first.heartbeat(late);
    t.same(await second.onlineAmong([late]), new Set([late]), "shared again once Redis is back");
  },
);
