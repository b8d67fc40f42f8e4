import { invalidArgument } from "@parley/kit/errors";
import type { PayoutStatus } from "../domain/payouts";
import type { PayoutEvent, PayoutProvider } from "../domain/ports";
import { providerCall } from "./calls";
import { hmacMatches, parseJson, signatureInvalid } from "./signatures";

export interface RazorpayXOptions {
  keyId: string;
  keySecret: string;
  webhookSecret: string;
  /** The RazorpayX account number payouts are made from. */
  accountNumber: string;
  /** The API's base URL (https://api.razorpay.com; a stand-in in tests). */
  baseUrl: string;
}

const STATUS: Record<string, Exclude<PayoutStatus, "processing">> = {
  processed: "paid",
  reversed: "reversed",
  failed: "failed",
  rejected: "failed",
  cancelled: "failed",
};

/** A payout as RazorpayX's API returns it, as far as billing reads it. */
interface RazorpayXPayout {
  id: string;
  reference_id?: string | null;
  status: string;
  failure_reason?: string | null;
}

/** An error answer as the SDKs' errors carry it: the status, and RazorpayX's description. */
async function refusalOf(response: Response) {
  const body = (await response.json().catch(() => ({}))) as { error?: { description?: string } };
  return Object.assign(new Error(`RazorpayX answered ${response.status}`), {
    statusCode: response.status,
    error: { description: body.error?.description },
  });
}

const outcomeOf = (payout: RazorpayXPayout) => ({
  providerPayoutId: payout.id,
  status: STATUS[payout.status] ?? ("processing" as const),
  failureReason: payout.failure_reason ?? "",
});

/**
 * RazorpayX payouts (the Node SDK has no payouts resource, so its HTTP shape directly):
 * `POST /v1/payouts` with the fund account inline (composite payout), Basic auth with the key,
 * `X-Payout-Idempotency` and `reference_id` the attempt's reference; `GET /v1/payouts/{id}`,
 * or `GET /v1/payouts?reference_id=` for a send whose answer never came, for reconciliation. Webhooks
 * (payout.processed, payout.reversed, payout.failed) carry X-Razorpay-Signature, an HMAC of the
 * raw body with the webhook secret.
 */
export function razorpayXProvider(options: RazorpayXOptions): PayoutProvider {
  const base = options.baseUrl.replace(/\/$/, "");
  const authorization = `Basic ${Buffer.from(`${options.keyId}:${options.keySecret}`).toString("base64")}`;
  return {
    name: "razorpayx",
    async createPayout(input) {
      const fundAccount =
        input.method === "upi"
          ? { account_type: "vpa", vpa: { address: input.details.upiId } }
          : {
              account_type: "bank_account",
              bank_account: {
                name: input.holderName,
                ifsc: input.details.ifsc,
                account_number: input.details.accountNumber,
              },
            };
      const body = await providerCall("razorpayx", async () => {
        const response = await fetch(`${base}/v1/payouts`, {
          method: "POST",
          headers: {
            authorization,
            "content-type": "application/json",
            "x-payout-idempotency": input.reference,
          },
          body: JSON.stringify({
            account_number: options.accountNumber,
            amount: Number(input.amount),
            currency: input.currency,
            mode: input.method === "upi" ? "UPI" : "IMPS",
            purpose: "payout",
            queue_if_low_balance: true,
            reference_id: input.reference,
            narration: "Parley earnings",
            fund_account: {
              ...fundAccount,
              contact: { name: input.holderName, type: "vendor", reference_id: input.expertUserId },
            },
          }),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) throw await refusalOf(response);
        return (await response.json()) as RazorpayXPayout;
      });
      return outcomeOf(body);
    },

    async findPayout({ providerPayoutId, reference }) {
      return providerCall("razorpayx", async () => {
        const url = providerPayoutId
          ? `${base}/v1/payouts/${encodeURIComponent(providerPayoutId)}`
          : `${base}/v1/payouts?${new URLSearchParams({ account_number: options.accountNumber, reference_id: reference })}`;
        const response = await fetch(url, {
          headers: { authorization },
          signal: AbortSignal.timeout(10_000),
        });
        if (response.status === 404) return undefined;
        if (!response.ok) throw await refusalOf(response);
        const body = (await response.json()) as RazorpayXPayout & { items?: RazorpayXPayout[] };
        const found = providerPayoutId ? body : body.items?.find((item) => item.reference_id === reference);
        return found && outcomeOf(found);
      });
    },

    parseWebhook(payload, headers): PayoutEvent {
      const signature = headers["x-razorpay-signature"];
      if (!signature || !hmacMatches(options.webhookSecret, payload, signature))
        throw signatureInvalid("X-Razorpay-Signature does not match the body");
      const eventId = headers["x-razorpay-event-id"];
      if (!eventId) throw invalidArgument("INVALID_BODY", "X-Razorpay-Event-Id is missing");
      const body = parseJson(payload);
      const type = String(body.event ?? "");
      if (type.startsWith("fund_account.validation.")) return kycEvent(eventId, type, body);
      const entity = (body.payload as { payout?: { entity?: Record<string, unknown> } } | undefined)?.payout
        ?.entity;
      const status = STATUS[type.replace(/^payout\./, "")];
      if (!type.startsWith("payout.") || !status || !entity) return { eventId, kind: "ignored", type };
      return {
        eventId,
        kind: "payout",
        providerPayoutId: String(entity.id ?? ""),
        reference: String(entity.reference_id ?? ""),
        status,
        failureReason: String(entity.failure_reason ?? (status === "paid" ? "" : type)),
      };
    },
  };
}

/**
 * A fund account validation (RazorpayX's account validation) as KYC: one whose notes name the
 * expert (`expert_user_id`) verifies their payout account when the account is active, and rejects
 * it, with the reason, when it is invalid or the validation failed; its `created_at` tells whether
 * it is of the account as it is now (see PayoutStore.setKyc).
 */
function kycEvent(eventId: string, type: string, body: Record<string, unknown>): PayoutEvent {
  const entity = (body.payload as Record<string, { entity?: Record<string, unknown> }> | undefined)?.[
    "fund_account.validation"
  ]?.entity;
  const expertUserId = String((entity?.notes as Record<string, unknown> | undefined)?.expert_user_id ?? "");
  if (!entity || !expertUserId) return { eventId, kind: "ignored", type };
  const accountStatus = String((entity.results as Record<string, unknown> | undefined)?.account_status ?? "");
  const active = type === "fund_account.validation.completed" && accountStatus === "active";
  return {
    eventId,
    kind: "kyc",
    expertUserId,
    status: active ? "verified" : "rejected",
    reason: active ? "" : `account validation: ${accountStatus || String(entity.status ?? "failed")}`,
    // Unix seconds; none (never seen from RazorpayX) counts as older than any account.
    validatedAt: new Date(Number(entity.created_at ?? 0) * 1000 || 0),
  };
}

/** The development rail (`pnpm start`, tests without a stand-in): every payout is paid at once. */
export function developmentPayouts(): PayoutProvider {
  return {
    name: "development",
    async createPayout({ reference }) {
      return { providerPayoutId: `dev_${reference}`, status: "paid", failureReason: "" };
    },
    async findPayout({ providerPayoutId }) {
      // It pays at once: a payout it answered for is paid, one it never answered for unknown.
      return providerPayoutId ? { providerPayoutId, status: "paid", failureReason: "" } : undefined;
    },
    parseWebhook() {
      throw invalidArgument("PROVIDER_NOT_SUPPORTED", "the development rail sends no webhooks");
    },
  };
}
