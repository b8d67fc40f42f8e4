import t from "tap";
import { HASHING_SLOTS, hashingQueueLength, hashPassword, verifyPassword } from "../src/domain/passwords";

t.test(
  "argon2 runs at most HASHING_SLOTS at a time; a burst waits its turn, first come first served",
  async (t) => {
    t.ok(HASHING_SLOTS >= 1, `${HASHING_SLOTS} slot(s) on this machine`);
    const stored = await hashPassword("a passphrase for tests");
    const finished: number[] = [];
    const burst = Array.from({ length: 8 }, (_, i) =>
      verifyPassword(stored, i % 2 === 0 ? "a passphrase for tests" : "the wrong one").then((ok) => {
        finished.push(i);
        return ok;
      }),
    );
    t.equal(
      hashingQueueLength(),
      8 - HASHING_SLOTS,
      "the rest of the burst queues instead of taking every core",
    );
    t.same(
      await Promise.all(burst),
      [true, false, true, false, true, false, true, false],
      "each gets its own answer",
    );
    t.equal(hashingQueueLength(), 0);
    if (HASHING_SLOTS === 1) t.same(finished, [0, 1, 2, 3, 4, 5, 6, 7], "in the order they came");
    const started = performance.now();
    t.ok(await verifyPassword(stored, "a passphrase for tests"));
    t.ok(performance.now() - started < 1_000, "a login alone does not wait");
  },
);
