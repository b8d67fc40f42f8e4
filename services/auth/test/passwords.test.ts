import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, getPriority } from "node:os";
import { parseConfig } from "@parley/kit/config";
import { isAppError } from "@parley/kit/errors";
import t from "tap";
import { restAfter } from "../src/domain/hashing-thread";
import {
  createPasswordHasher,
  HASHING_NICE,
  HASHING_RETRY_AFTER_SECONDS,
  hashingSettingsFromConfig,
  hashPassword,
  passwordHasher,
  passwordHashingConfigShape,
  verifyPassword,
} from "../src/domain/passwords";

/** The nice value of each of this process's threads (Linux: /proc/self/task). */
const threadNiceValues = () =>
  readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });

const PASSPHRASE = "a passphrase for tests";

t.test(
  "the default bound leaves a core for everything else, hashes an eighth of a slot's time at nice 19, and queues 8 per slot",
  async (t) => {
    // From an empty environment: `pnpm test` runs the tests' own auth at a share of 1, nice 0.
    const { concurrency, share, queueLimit, nice } = hashingSettingsFromConfig(
      parseConfig(passwordHashingConfigShape, {}),
    );
    t.equal(concurrency, Math.max(1, availableParallelism() - 1), `${concurrency} slot(s) on this machine`);
    t.equal(share, 0.125);
    t.equal(queueLimit, 8 * concurrency);
    t.equal(nice, HASHING_NICE);
    t.same(
      hashingSettingsFromConfig(
        parseConfig(passwordHashingConfigShape, {
          PASSWORD_HASHING_CONCURRENCY: "3",
          PASSWORD_HASHING_SHARE: "1",
          PASSWORD_HASHING_QUEUE: "0",
          PASSWORD_HASHING_NICE: "0",
        }),
      ),
      { concurrency: 3, share: 1, queueLimit: 0, nice: 0 },
      "all four are configurable; a queue of 0 refuses whatever finds every slot busy",
    );
    t.throws(() => parseConfig(passwordHashingConfigShape, { PASSWORD_HASHING_CONCURRENCY: "0" }));
    for (const PASSWORD_HASHING_SHARE of ["0", "1.5", "half"])
      t.throws(
        () => parseConfig(passwordHashingConfigShape, { PASSWORD_HASHING_SHARE }),
        PASSWORD_HASHING_SHARE,
      );
    for (const PASSWORD_HASHING_NICE of ["-1", "20", "2.5"])
      t.throws(
        () => parseConfig(passwordHashingConfigShape, { PASSWORD_HASHING_NICE }),
        `nice ${PASSWORD_HASHING_NICE}`,
      );
    t.equal(restAfter(10, 0.25), 30, "a quarter of the time: three times the computation's time at rest");
    t.equal(restAfter(10, 1), 0);
  },
);

t.test(
  "a slot hashes at most its share of the time, resting after each computation, not before answering",
  async (t) => {
    const share = 0.2;
    const hasher = createPasswordHasher({ concurrency: 1, share, queueLimit: 4, nice: HASHING_NICE });
    t.teardown(() => hasher.close());
    const timed = async () => {
      const started = performance.now();
      await hasher.hash(PASSPHRASE);
      return performance.now() - started;
    };
    // This process's CPU time (its hashing thread's, mostly) while `work` runs: a rest is owed
    // for a computation's wall time, never less than its CPU time, which the machine's other
    // load does not stretch as it does wall times.
    const withCpu = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
      const before = process.cpuUsage();
      const value = await work();
      const used = process.cpuUsage(before);
      return [value, (used.user + used.system) / 1000];
    };
    // Rested past whatever the warm-up owed: at most its rest for the whole call's wall time,
    // which a busy machine stretches (on one core a hash here took seconds).
    const warmup = await timed();
    await new Promise((resolve) => setTimeout(resolve, restAfter(warmup, share) + 100));
    const [first, firstCpu] = await withCpu(timed);
    const second = await timed();
    t.ok(
      second >= restAfter(firstCpu, share) * 0.5,
      `the next one waits out the rest (~${restAfter(1, share)}× a computation): ${first.toFixed(1)} then ${second.toFixed(1)} ms`,
    );
    const started = performance.now();
    const [burst, burstCpu] = await withCpu(() => Promise.all(Array.from({ length: 4 }, () => timed())));
    const elapsed = performance.now() - started;
    const computation = burstCpu / 4;
    t.ok(
      elapsed >= 3 * restAfter(computation, share) * 0.5,
      `4 back to back take at least 3 rests: ${elapsed.toFixed(0)} ms (${burst.map((ms) => ms.toFixed(0)).join(", ")}), a computation's CPU ${computation.toFixed(1)} ms`,
    );
  },
);

t.test(
  "a burst never runs more hashes at once than the bound; the rest wait their turn and all complete",
  async (t) => {
    const stored = await hashPassword(PASSPHRASE);
    for (const concurrency of [1, 2]) {
      const hasher = createPasswordHasher({ concurrency, share: 1, queueLimit: 16, nice: HASHING_NICE });
      t.teardown(() => hasher.close());
      let mostRunning = 0;
      let mostWaiting = 0;
      const sample = () => {
        const { running, waiting } = hasher.load();
        mostRunning = Math.max(mostRunning, running);
        mostWaiting = Math.max(mostWaiting, waiting);
      };
      const finished: number[] = [];
      const burst = Array.from({ length: 12 }, (_, i) =>
        hasher.verify(stored, i % 2 === 0 ? PASSPHRASE : "the wrong one").then((ok) => {
          sample();
          finished.push(i);
          return ok;
        }),
      );
      sample();
      t.same(
        hasher.load(),
        { running: concurrency, waiting: 12 - concurrency },
        "the rest of the burst waits",
      );
      const sampler = setInterval(sample, 1);
      const answers = await Promise.all(burst);
      clearInterval(sampler);
      t.same(
        answers,
        Array.from({ length: 12 }, (_, i) => i % 2 === 0),
        "each gets its own answer",
      );
      t.equal(mostRunning, concurrency, `at most ${concurrency} at once`);
      t.equal(mostWaiting, 12 - concurrency);
      t.same(hasher.load(), { running: 0, waiting: 0 });
      if (concurrency === 1) t.same(finished, [...Array(12).keys()], "in the order they came");
    }
    const started = performance.now();
    t.ok(await verifyPassword(stored, PASSPHRASE));
    t.ok(performance.now() - started < 1_000, "a login alone does not wait");
    t.notOk(await verifyPassword("not an argon2 hash", PASSPHRASE), "an unreadable hash");
  },
);

t.test(
  "a full queue refuses at once with a retryable RESOURCE_EXHAUSTED, and accepts again once it drains",
  async (t) => {
    const hasher = createPasswordHasher({ concurrency: 1, share: 1, queueLimit: 2, nice: HASHING_NICE });
    t.teardown(() => hasher.close());
    const asked = Array.from({ length: 5 }, () => hasher.hash(PASSPHRASE));
    const settled = await Promise.allSettled(asked);
    t.same(
      settled.map((s) => s.status),
      ["fulfilled", "fulfilled", "fulfilled", "rejected", "rejected"],
      "one running and two waiting are served; the next two are refused",
    );
    for (const refused of settled.filter((s) => s.status === "rejected")) {
      const error = refused.reason;
      t.ok(isAppError(error, "PASSWORD_HASHING_BUSY"));
      t.equal(error.kind, "resource_exhausted");
      t.equal(error.retryAfterSeconds, HASHING_RETRY_AFTER_SECONDS);
    }
    const busy = [hasher.hash(PASSPHRASE), hasher.hash(PASSPHRASE), hasher.hash(PASSPHRASE)];
    let refusedUpFront: unknown;
    try {
      hasher.assertCapacity();
    } catch (error) {
      refusedUpFront = error;
    }
    t.ok(isAppError(refusedUpFront, "PASSWORD_HASHING_BUSY"), "a login is refused up front");
    await Promise.all(busy);
    t.doesNotThrow(() => hasher.assertCapacity());
    t.ok(await hasher.verify(await hasher.hash(PASSPHRASE), PASSPHRASE), "served again");
  },
);

t.test(
  "hashing threads run at their nice value, the lowest CPU priority by default; the rest of the process keeps its own",
  { skip: process.platform !== "linux" && "thread priorities are read from Linux's /proc" },
  async (t) => {
    const lowest = createPasswordHasher({ concurrency: 2, share: 1, queueLimit: 2, nice: HASHING_NICE });
    t.teardown(() => lowest.close());
    await Promise.all([lowest.hash(PASSPHRASE), lowest.hash(PASSPHRASE), hashPassword(PASSPHRASE)]);
    // The process's own hasher hashes at its environment's nice value (`pnpm test`: 0); every
    // other thread of the process stays at 0.
    const own = passwordHasher.settings;
    const niceValues = threadNiceValues();
    const expected = new Map<number, number>();
    const add = (nice: number, count: number) => expected.set(nice, (expected.get(nice) ?? 0) + count);
    add(HASHING_NICE, 2);
    add(own.nice, own.concurrency);
    add(0, niceValues.length - 2 - own.concurrency);
    for (const [nice, count] of expected)
      t.equal(
        niceValues.filter((value) => value === nice).length,
        count,
        `${count} thread(s) at nice ${nice}`,
      );
    t.equal(
      niceValues.filter((value) => !expected.has(value)).length,
      0,
      "no thread at any other nice value",
    );
    t.equal(getPriority(), 0, "the main thread is untouched");
  },
);
