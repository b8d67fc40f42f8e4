import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import t from "tap";
import { HASHING_NICE } from "../src/domain/hashing-thread";
import { HASHING_SLOTS, hashingQueueLength, hashPassword, verifyPassword } from "../src/domain/passwords";

/** The nice value of each of this process's threads (Linux: /proc/self/task). */
const threadNiceValues = () =>
  readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });

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
    t.notOk(await verifyPassword("not an argon2 hash", "a passphrase for tests"), "an unreadable hash");
  },
);

t.test(
  "hashing threads run at the lowest CPU priority; the rest of the process keeps its own",
  { skip: process.platform !== "linux" && "thread priorities are read from Linux's /proc" },
  async (t) => {
    await hashPassword("a passphrase for tests");
    const niceValues = threadNiceValues();
    t.equal(
      niceValues.filter((nice) => nice === HASHING_NICE).length,
      HASHING_SLOTS,
      `one thread at nice ${HASHING_NICE} per slot`,
    );
    t.equal(getPriority(), 0, "the main thread is untouched");
    t.equal(niceValues.filter((nice) => nice === 0).length, niceValues.length - HASHING_SLOTS);
  },
);
