// One thread of the password-hashing pool (passwords.ts). Argon2 runs here synchronously, on
// this thread, which asks the kernel for the lowest CPU priority first: on Linux a thread's
// nice value is its own, so the service's other threads (gRPC, database, signing) and every
// other process on the machine run first, and hashing gets the CPU time nothing else wants.
import { setPriority } from "node:os";
import { isMainThread } from "node:worker_threads";
import { type Algorithm, hashSync, verifySync } from "@node-rs/argon2";

/** nice 19: the lowest priority an unprivileged thread can take. */
export const HASHING_NICE = 19;
// Imported on the main thread (for the parameters) it changes nothing.
if (!isMainThread) setPriority(HASHING_NICE);

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

/** A hash string for "hash", whether the password matches for "verify" (false for a bad hash). */
export default function run(task: HashingTask): string | boolean {
  if (task.op === "hash") return hashSync(task.password, ARGON2_PARAMETERS);
  try {
    return verifySync(task.passwordHash, task.password);
  } catch {
    return false;
  }
}
