// One thread of the password-hashing pool (passwords.ts). Argon2 runs here synchronously, on
// this thread, which asks the kernel for the lowest CPU priority first: on Linux a thread's
// nice value and scheduling policy are its own, so the service's other threads (gRPC,
// database, signing) and every other process on the machine run first, and hashing gets the
// CPU time nothing else wants.
import { execFileSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { isMainThread } from "node:worker_threads";
import { type Algorithm, hashSync, verifySync } from "@node-rs/argon2";

/** nice 19: the lowest priority an unprivileged thread can take. */
export const HASHING_NICE = 19;

/**
 * Linux's SCHED_IDLE policy for this thread (util-linux's `chrt`, as Node has no call for it;
 * lowering one's own policy needs no privilege). Below every nice level, and more: a core
 * running only such threads counts as idle when the kernel places a thread that wakes up, so
 * a request's thread goes straight to the core a hash is using instead of queueing behind the
 * other core's work. Without `chrt` (or off Linux) the thread keeps nice 19 alone.
 */
function takeIdlePolicy(): void {
  try {
    const tid = readlinkSync("/proc/thread-self").split("/").pop()!;
    execFileSync("chrt", ["--idle", "--pid", "0", tid], { stdio: "ignore", timeout: 5_000 });
  } catch {
    // nice 19 still applies.
  }
}

// Imported on the main thread (for the parameters) it changes nothing.
if (!isMainThread) {
  setPriority(HASHING_NICE);
  takeIdlePolicy();
}

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
