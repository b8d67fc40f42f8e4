import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { env, loadConfig, z } from "@parley/kit/config";
import { invalidArgument, resourceExhausted } from "@parley/kit/errors";
import { dictionary } from "@zxcvbn-ts/language-common";
import { Piscina } from "piscina";
import type { HashingTask, HashingThreadData } from "./hashing-thread";

/** nice 19: the lowest priority an unprivileged thread can take; the hashing threads' default. */
export const HASHING_NICE = 19;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;

const COMMON_PASSWORDS = new Set(dictionary["passwords-common"].map((p) => p.toLowerCase()));

/**
 * Refuses passwords outside 8..128 characters (counted as code points, never truncated) or
 * on the common-passwords list (zxcvbn's, case-insensitive).
 */
export function checkPasswordPolicy(password: string, field = "password"): void {
  const length = [...password.normalize("NFC")].length;
  const violation = (reason: string, description: string) =>
    invalidArgument(reason, description, { fieldViolations: [{ field, description }] });
  if (length < MIN_PASSWORD_LENGTH)
    throw violation("PASSWORD_TOO_SHORT", `must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (length > MAX_PASSWORD_LENGTH)
    throw violation("PASSWORD_TOO_LONG", `must be at most ${MAX_PASSWORD_LENGTH} characters`);
  if (COMMON_PASSWORDS.has(password.toLowerCase()))
    throw violation("PASSWORD_TOO_COMMON", "is one of the most common passwords; choose another");
}

/**
 * How password hashing shares the machine (auth's environment, config.ts). Each argon2
 * computation takes a whole core for tens of milliseconds (that is its point), so a burst of
 * logins would otherwise take every core from the requests around them.
 * - `PASSWORD_HASHING_CONCURRENCY`: computations at once; by default every core but one (at
 *   least one), so a core always stays for everything else.
 * - `PASSWORD_HASHING_SHARE`: the share of a slot's time it may spend hashing, 0 to 1; by
 *   default an eighth. After a computation that took d, its slot rests d × (1 / share − 1)
 *   before taking the next (hashing-thread.ts), so a burst of logins gets at most that share of
 *   a core per slot and leaves the rest to the requests around it. A login that finds its slot
 *   rested is not delayed. An auth on a machine of its own can set 1.
 * - `PASSWORD_HASHING_NICE`: the hashing threads' nice value, 0 to 19; by default 19, the lowest
 *   priority, so they get only CPU time nothing else wants. A machine kept saturated stretches a
 *   hash at 19 without bound (on one core under other tests' platforms, a login's hash ran past
 *   the edge's 10-s deadline): the tests hash at 0, and an auth on cores of its own can too.
 * - `PASSWORD_HASHING_QUEUE`: computations waiting for a slot, first come first served; by
 *   default 8 per slot (about a second of waiting at the default share). Beyond it a hash is
 *   refused at once with RESOURCE_EXHAUSTED `PASSWORD_HASHING_BUSY` and a retry delay.
 */
export const passwordHashingConfigShape = {
  PASSWORD_HASHING_CONCURRENCY: env.positiveInt(Math.max(1, availableParallelism() - 1)),
  PASSWORD_HASHING_SHARE: z.coerce.number().gt(0).max(1).default(0.125),
  PASSWORD_HASHING_QUEUE: z.coerce.number().int().min(0).optional(),
  PASSWORD_HASHING_NICE: z.coerce.number().int().min(0).max(HASHING_NICE).default(HASHING_NICE),
};

export interface PasswordHashingSettings {
  concurrency: number;
  /** The share of a slot's time it may spend hashing (0 < share ≤ 1). */
  share: number;
  queueLimit: number;
  /** The hashing threads' nice value (0 to 19). */
  nice: number;
}

export const hashingSettingsFromConfig = (config: {
  PASSWORD_HASHING_CONCURRENCY: number;
  PASSWORD_HASHING_SHARE: number;
  PASSWORD_HASHING_QUEUE?: number | undefined;
  PASSWORD_HASHING_NICE: number;
}): PasswordHashingSettings => ({
  concurrency: config.PASSWORD_HASHING_CONCURRENCY,
  share: config.PASSWORD_HASHING_SHARE,
  queueLimit: config.PASSWORD_HASHING_QUEUE ?? 8 * config.PASSWORD_HASHING_CONCURRENCY,
  nice: config.PASSWORD_HASHING_NICE,
});

/** Seconds a refused caller is told to wait before trying again. */
export const HASHING_RETRY_AFTER_SECONDS = 1;

const hashingBusy = () =>
  resourceExhausted("PASSWORD_HASHING_BUSY", "too many sign-ins at once; retry shortly", {
    retryAfterSeconds: HASHING_RETRY_AFTER_SECONDS,
  });

export interface PasswordHasher {
  readonly settings: PasswordHashingSettings;
  hash(password: string): Promise<string>;
  /** Whether the password matches the stored hash (false for a hash that cannot be read). */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** Refuses (PASSWORD_HASHING_BUSY) when a hash asked for now would be refused. */
  assertCapacity(): void;
  /** Computations running and waiting now. */
  load(): { running: number; waiting: number };
  close(): Promise<void>;
}

/**
 * Argon2 on `concurrency` threads of their own, each at its nice value (by default the lowest
 * CPU priority) and hashing at most `share` of its time (hashing-thread.ts): what they compute
 * is time nothing else wanted.
 * Piscina runs one task per thread at a time; the rest wait in its queue, first come first
 * served, at most `queueLimit` of them (`maxQueue`).
 */
export function createPasswordHasher(settings: PasswordHashingSettings): PasswordHasher {
  const pool = new Piscina<HashingTask, string | boolean>({
    filename: fileURLToPath(new URL("./hashing-thread.ts", import.meta.url)),
    workerData: { share: settings.share, nice: settings.nice } satisfies HashingThreadData,
    minThreads: settings.concurrency,
    maxThreads: settings.concurrency,
    maxQueue: settings.queueLimit,
    // A task no thread could take after all goes back to the head of the queue, not its tail.
    stricterFIFO: true,
  });
  // Piscina's own refusal (every thread busy and maxQueue waiting), asked before a task is
  // given to it: a login is refused before it counts as an attempt, and with our error.
  const assertCapacity = () => {
    if (pool.idleThreads === 0 && pool.queueSize >= settings.queueLimit) throw hashingBusy();
  };
  const run = (task: HashingTask) => {
    assertCapacity();
    return pool.run(task);
  };
  return {
    settings,
    hash: async (password) => (await run({ op: "hash", password: password.normalize("NFC") })) as string,
    verify: async (passwordHash, password) =>
      (await run({ op: "verify", passwordHash, password: password.normalize("NFC") })) as boolean,
    assertCapacity,
    load: () => ({ running: pool.threads.length - pool.idleThreads, waiting: pool.queueSize }),
    close: () => pool.destroy(),
  };
}

/**
 * The process's hasher: one pool of threads for the whole process, sized from its environment
 * when this module loads (a bad value stops the process, naming the variable, as at start).
 */
export const passwordHasher = createPasswordHasher(
  hashingSettingsFromConfig(loadConfig(passwordHashingConfigShape)),
);

export const hashPassword = (password: string) => passwordHasher.hash(password);

/** Whether the password matches the stored hash (false for a hash that cannot be read). */
export const verifyPassword = (passwordHash: string, password: string) =>
  passwordHasher.verify(passwordHash, password);

/**
 * A hash of nothing anyone knows: checked when the account does not exist, so an unknown
 * identifier costs the same argon2 time as a wrong password.
 */
export const decoyPasswordHash = hashPassword(`decoy-${crypto.randomUUID()}`);
