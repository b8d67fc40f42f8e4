import { availableParallelism } from "node:os";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { invalidArgument } from "@parley/kit/errors";
import { dictionary } from "@zxcvbn-ts/language-common";

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;

/** OWASP's argon2id baseline: 19 MiB, two passes, one lane. */
export const ARGON2_PARAMETERS = {
  // Algorithm is a const enum, which isolated modules cannot read: 2 is Argon2id.
  algorithm: 2 as Algorithm.Argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

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
 * every core (libuv runs four at a time) from the requests around them; beyond this they
 * wait their turn, first come first served, and only the logins themselves are slower.
 */
export const HASHING_SLOTS = Math.max(1, Math.floor(availableParallelism() / 2));
let hashing = 0;
const waitingToHash: Array<() => void> = [];

async function inHashingSlot<T>(work: () => Promise<T>): Promise<T> {
  if (hashing < HASHING_SLOTS) hashing += 1;
  else await new Promise<void>((resolve) => waitingToHash.push(resolve));
  try {
    return await work();
  } finally {
    // The slot passes straight to the next in line, or is freed.
    const next = waitingToHash.shift();
    if (next) next();
    else hashing -= 1;
  }
}

/** Argon2 computations waiting for a slot now. */
export const hashingQueueLength = () => waitingToHash.length;

export const hashPassword = (password: string) =>
  inHashingSlot(() => hash(password.normalize("NFC"), ARGON2_PARAMETERS));

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await inHashingSlot(() => verify(passwordHash, password.normalize("NFC")));
  } catch {
    return false;
  }
}

/**
 * A hash of nothing anyone knows: checked when the account does not exist, so an unknown
 * identifier costs the same argon2 time as a wrong password.
 */
export const decoyPasswordHash = hashPassword(`decoy-${crypto.randomUUID()}`);
