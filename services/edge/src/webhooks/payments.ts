import { createHmac, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "@parley/kit/errors";

/** The header a provider signs with: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export const SIGNATURE_HEADER = "parley-signature";

export function signPayload(secret: string, timestamp: number, rawBody: Buffer | string): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Checks a webhook's signature over the exact bytes received, in constant time, and that its
 * timestamp is within the tolerance (a captured request cannot be replayed later).
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  rawBody: Buffer,
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): void {
  const parts = Object.fromEntries(
    (header ?? "").split(",").map((part) => {
      const at = part.indexOf("=");
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    }),
  );
  const timestamp = Number(parts.t);
  if (!header || !Number.isInteger(timestamp) || !parts.v1)
    throw invalidArgument("SIGNATURE_INVALID", `missing or malformed ${SIGNATURE_HEADER} header`);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds)
    throw invalidArgument("SIGNATURE_STALE", "the signature timestamp is outside the tolerance");
  const expected = Buffer.from(signPayload(secret, timestamp, rawBody).split("v1=")[1]!, "hex");
  const given = Buffer.from(parts.v1, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw invalidArgument("SIGNATURE_INVALID", "the signature does not match the body");
}

const STATUSES: Record<string, string> = {
  succeeded: "PAYMENT_STATUS_SUCCEEDED",
  failed: "PAYMENT_STATUS_FAILED",
  cancelled: "PAYMENT_STATUS_CANCELLED",
};

/** The provider's event (JSON) as billing.ConfirmPayment's request, in proto3 JSON. */
export function confirmPaymentRequest(provider: string, event: unknown): Record<string, unknown> {
  const e = (event ?? {}) as Record<string, unknown>;
  const status = STATUSES[String(e.status)];
  if (typeof e.event_id !== "string" || !e.event_id || !status)
    throw invalidArgument(
      "VALIDATION_FAILED",
      "event_id and status (succeeded, failed, cancelled) are required",
      {
        fieldViolations: [
          { field: "event_id", description: "required" },
          { field: "status", description: "succeeded, failed or cancelled" },
        ],
      },
    );
  return {
    provider,
    provider_event_id: e.event_id,
    provider_payment_id: String(e.provider_payment_id ?? ""),
    payment_id: String(e.payment_id ?? ""),
    provider_reference: String(e.provider_reference ?? ""),
    status,
    ...(e.amount_minor !== undefined
      ? { amount: { amount_minor: String(e.amount_minor), currency: String(e.currency ?? "") } }
      : {}),
  };
}
