import { failedPrecondition, isAppError, unavailable } from "@parley/kit/errors";

/**
 * Statuses with which a provider refuses a request for what it is (its amount, its details, an
 * id it does not know): sending it again changes nothing. Others (401 and 403, a key being
 * rotated; 409, 429, 5xx; no answer) may pass later.
 */
const REFUSED = new Set([400, 404, 422]);

/**
 * A provider's API call. A refusal (REFUSED, from the official SDKs' errors or ours) is
 * FAILED_PRECONDITION PROVIDER_REFUSED with the provider's description; any other failure to
 * answer is UNAVAILABLE PROVIDER_UNAVAILABLE.
 */
export async function providerCall<T>(provider: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isAppError(error)) throw error;
    // The SDKs' errors (Stripe's, Razorpay's), or axios's (Razorpay's SDK's own HTTP client).
    const failure = (error ?? {}) as {
      statusCode?: number;
      error?: { description?: string };
      message?: string;
      response?: { status?: number; data?: { error?: { description?: string } } };
    };
    const statusCode = failure.statusCode ?? failure.response?.status;
    const description =
      failure.error?.description ?? failure.response?.data?.error?.description ?? failure.message;
    if (statusCode !== undefined && REFUSED.has(statusCode))
      throw failedPrecondition(
        "PROVIDER_REFUSED",
        `${provider} refused it: ${String(description ?? statusCode).slice(0, 200)}`,
        { cause: error, metadata: { provider, status: String(statusCode) } },
      );
    throw unavailable("PROVIDER_UNAVAILABLE", `${provider} did not complete the call; retry later`, {
      cause: error,
      metadata: { provider },
    });
  }
}

/** A minor-unit amount as the number providers' SDKs take (top-ups are far below 2^53). */
export const asNumber = (amount: bigint): number => Number(amount);
