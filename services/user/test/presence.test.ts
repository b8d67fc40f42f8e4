import { newId } from "@parley/kit/ids";
import t from "tap";
import { createInProcessPresence, createRedisPresence } from "../src/persistence/presence";

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
