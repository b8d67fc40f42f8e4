import { alreadyExists } from "@parley/kit/errors";

/** The stored answer to a repeated request, when its parameters match the first one's. */
export function replayOf<T>(
  stored: { requestHash: string; response: T | undefined },
  requestHash: string,
): T {
  if (stored.requestHash !== requestHash || stored.response === undefined)
    throw alreadyExists(
      "IDEMPOTENCY_KEY_REUSED",
      "this request_id was already used with different parameters",
    );
  return stored.response;
}
