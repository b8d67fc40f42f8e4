import t from "tap";
import type { Logger } from "../src/log";
import { createCatchUp } from "../src/watch";

t.test("a catch-up check asked for while one runs runs again after it, not merged into it", async (t) => {
  let stored = 1n;
  let release!: () => void;
  let reads = 0;
  const catchUp = createCatchUp({
    feed: { isLive: () => true, onInterruption: () => () => undefined },
    lastSeqs: async (keys) => {
      reads += 1;
      const seen = stored;
      // The first read is slow: what is stored meanwhile it does not see.
      if (reads === 1) await new Promise<void>((resolve) => (release = resolve));
      return new Map(keys.map((key) => [key, seen]));
    },
    pollMs: 60_000,
    checkMs: 60_000,
    log: { warn: () => undefined } as unknown as Logger,
  });
  t.teardown(() => catchUp.close());
  const behind: bigint[] = [];
  catchUp.register("session-1", { lastSeq: () => 0n, behind: (seq) => behind.push(seq) });
  const first = catchUp.check();
  // The feed comes back while that check reads: an item stored in the gap.
  stored = 2n;
  void catchUp.check();
  release();
  await first;
  for (let i = 0; i < 50 && behind.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(behind, [1n, 2n], "the second check found what the first one read too early for");
  t.equal(reads, 2);
});
