import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";
import { invalidArgument } from "./errors";

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time: uuid's own generator asks
 * WebCrypto for 16 bytes per id, which cost more than the rest of making one (bulk callers,
 * such as a 1,000-minute charge batch, make an id per row).
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;
/** The time and sequence of the last id, as uuid keeps them: ids of one millisecond still sort. */
let lastMsecs = Number.NEGATIVE_INFINITY;
let sequence = 0;

/** A new UUIDv7: time-ordered, so ids sort by creation and index well. */
export const newId = (): string => {
  if (used + 16 > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const random = pool.subarray(used, used + 16);
  used += 16;
  const now = Date.now();
  if (now > lastMsecs) {
    sequence = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
    lastMsecs = now;
  } else {
    sequence = (sequence + 1) | 0;
    if (sequence === 0) lastMsecs++;
  }
  return v7({ random, msecs: lastMsecs, seq: sequence });
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

/** The id, lowercased; INVALID_ARGUMENT (VALIDATION_FAILED, a violation of `field`) unless a UUID. */
export function requireUuid(value: string, field: string): string {
  if (!isUuid(value))
    throw invalidArgument("VALIDATION_FAILED", `${field} must be a UUID`, {
      fieldViolations: [{ field, description: "must be a UUID" }],
    });
  return value.toLowerCase();
}
