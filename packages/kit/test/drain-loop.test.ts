import { setTimeout as sleep } from "node:timers/promises";
import t from "tap";
import { createLogger } from "../src/log";
import { createDrainLoop } from "../src/outbox";

const log = createLogger({ service: "kit-test", level: "silent" });

/** A loop whose drains take `drainMs` each and find `found()` items; counts the drains. */
const counting = (options: { gatherMs?: number; drainMs?: number; batch?: number; found?: () => number }) => {
  const drains: number[] = [];
  const loop = createDrainLoop({
    what: "test",
    log,
    batch: options.batch ?? 10,
    gatherMs: options.gatherMs,
    drainOnce: async () => {
      drains.push(Date.now());
      await sleep(options.drainMs ?? 0);
      return options.found?.() ?? 1;
    },
  });
  return { loop, drains };
};

t.test("without a gather, a nudge drains at once and nudges during a drain make one more", async (t) => {
  const { loop, drains } = counting({ drainMs: 20 });
  loop.nudge();
  t.equal(drains.length, 1, "drained at once");
  for (let i = 0; i < 5; i++) loop.nudge();
  await sleep(200);
  t.equal(drains.length, 2, "the nudges during the drain made one more drain, not five");
  await loop.stop();
});

// The windows are wide (hundreds of ms) against the few ms between nudges: on a loaded 2-core
// machine a 5-ms timer can fire tens of ms late.
t.test("with a gather, the nudges of its window share one drain", async (t) => {
  const { loop, drains } = counting({ gatherMs: 250 });
  const nudgedAt = Date.now();
  for (let i = 0; i < 5; i++) {
    loop.nudge();
    await sleep(5);
  }
  t.equal(drains.length, 0, "nothing drained during the gather");
  await sleep(450);
  t.equal(drains.length, 1, "five nudges, one drain");
  t.ok(drains[0]! - nudgedAt >= 245, "the drain waited for the gather");
  await loop.stop();
});

t.test("with a gather, full batches still drain back to back", async (t) => {
  let left = 3;
  const { loop, drains } = counting({ gatherMs: 250, batch: 10, found: () => (left-- > 0 ? 10 : 4) });
  loop.nudge();
  await sleep(500);
  t.equal(drains.length, 4, "three full batches and the last, after one gather");
  t.ok(drains[3]! - drains[0]! < 200, "no gather between full batches");
  await loop.stop();
});

t.test("stopping during a gather starts no drain", async (t) => {
  const { loop, drains } = counting({ gatherMs: 50 });
  loop.nudge();
  await loop.stop();
  await sleep(70);
  t.equal(drains.length, 0);
});
