import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { invalidArgument } from "@parley/kit/errors";
import { dictionary } from "@zxcvbn-ts/language-common";
import { Piscina } from "piscina";
import type { HashingTask } from "./hashing-thread";

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
 * Argon2 computations allowed at once: half the cores, at least one. Each takes a whole core
 * for tens of milliseconds (that is its point), so a burst of logins would otherwise take
 * every core from the requests around them; beyond this they wait their turn, first come
 * first served, and only the logins themselves are slower. Each slot is a thread of its own at
 * the lowest CPU priority (hashing-thread.ts): what it computes is time nothing else wanted.
 */
export const HASHING_SLOTS = Math.max(1, Math.floor(availableParallelism() / 2));
const pool = new Piscina<HashingTask, string | boolean>({
  filename: fileURLToPath(new URL("./hashing-thread.ts", import.meta.url)),
  minThreads: HASHING_SLOTS,
  maxThreads: HASHING_SLOTS,
  // A task that finds every thread busy keeps its place at the head of the queue.
  stricterFIFO: true,
});

/** Argon2 computations waiting for a slot now. */
export const hashingQueueLength = () => pool.queueSize;

export const hashPassword = async (password: string) =>
  (await pool.run({ op: "hash", password: password.normalize("NFC") })) as string;

/** Whether the password matches the stored hash (false for a hash that cannot be read). */
export const verifyPassword = async (passwordHash: string, password: string) =>
  (await pool.run({ op: "verify", passwordHash, password: password.normalize("NFC") })) as boolean;

/**
 * A hash of nothing anyone knows: checked when the account does not exist, so an unknown
 * identifier costs the same argon2 time as a wrong password.
 */
export const decoyPasswordHash = hashPassword(`decoy-${crypto.randomUUID()}`);
