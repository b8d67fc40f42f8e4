import { resourceExhausted } from "@parley/kit/errors";
import type { AttemptCounter, AttemptLimiter } from "./ports";

/**
 * Counts an attempt under every key before the work is done (so parallel guesses cannot
 * slip past the limit) and refuses with one generic error when any key is over its limit.
 */
export async function guardAttempts(limiter: AttemptLimiter, counters: AttemptCounter[]): Promise<void> {
  const results = await limiter.consume(counters);
  const refused = results.filter((r) => !r.allowed);
  if (refused.length === 0) return;
  const retryAfterSeconds = Math.max(...refused.map((r) => r.retryAfterSeconds), 1);
  throw resourceExhausted("TOO_MANY_ATTEMPTS", "too many attempts; try again later", { retryAfterSeconds });
}
