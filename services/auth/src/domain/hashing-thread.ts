// One thread of the password-hashing pool (passwords.ts). Argon2 runs here synchronously, on
// this thread, which first takes its nice value (by default the lowest CPU priority): on Linux
// a thread's nice value is its own, so the service's other threads (gRPC, database, signing)
// and every other process on the machine run first, and hashing gets the CPU time nothing else
// wants.
// The thread also hashes at most its share of the time: after a computation it rests in
// proportion before the next one starts (the answer is not held back).
import { setPriority } from "node:os";
import { isMainThread } from "node:worker_threads";
import { type Algorithm, hashSync, verifySync } from "@node-rs/argon2";
import { workerData } from "piscina";

/** OWASP's argon2id baseline: 19 MiB, two passes, one lane. */
export const ARGON2_PARAMETERS = {
  // Algorithm is a const enum, which isolated modules cannot read: 2 is Argon2id.
  algorithm: 2 as Algorithm.Argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

export type HashingTask =
  | { op: "hash"; password: string }
  | { op: "verify"; passwordHash: string; password: string };

/** What the pool gives each of its threads. */
export interface HashingThreadData {
  /** The share of this thread's time it may spend hashing (0 < share ≤ 1). */
  share: number;
  /** This thread's nice value (0 to 19). */
  nice: number;
}

/**
 * How long a slot rests after a computation that took `busyMs` so that, over time, it hashes
 * `share` of the time. Time on the clock, not CPU time: on a busy machine, where a hash at the
 * lowest priority takes longer, the rest grows with it.
 */
export const restAfter = (busyMs: number, share: number) => busyMs * (1 / share - 1);

// Imported on the main thread (for the parameters) it changes nothing.
const { share, nice } = isMainThread ? { share: 1, nice: 0 } : (workerData as HashingThreadData);
if (!isMainThread) setPriority(nice);
let restUntil = 0;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function compute(task: HashingTask): string | boolean {
  if (task.op === "hash") return hashSync(task.password, ARGON2_PARAMETERS);
  try {
    return verifySync(task.passwordHash, task.password);
  } catch {
    return false;
  }
}

/**
 * A hash string for "hash", whether the password matches for "verify" (false for a bad hash),
 * once the rest owed for the previous computation has passed.
 */
export default function run(task: HashingTask): string | boolean {
  const owed = restUntil - performance.now();
  if (owed > 0) Atomics.wait(sleeper, 0, 0, owed);
  const started = performance.now();
  try {
    return compute(task);
  } finally {
    const finished = performance.now();
    restUntil = finished + restAfter(finished - started, share);
  }
}
