import { isAppError, unavailable } from "@parley/kit/errors";

/** A provider's API call; a failure to answer (or an error status) is UNAVAILABLE PROVIDER_UNAVAILABLE. */
export async function providerCall<T>(provider: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isAppError(error)) throw error;
    throw unavailable("PROVIDER_UNAVAILABLE", `${provider} did not complete the call; retry later`, {
      cause: error,
      metadata: { provider },
    });
  }
}

/** A minor-unit amount as the number providers' SDKs take (top-ups are far below 2^53). */
export const asNumber = (amount: bigint): number => Number(amount);
