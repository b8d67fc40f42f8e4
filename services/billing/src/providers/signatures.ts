import { createHmac, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "@parley/kit/errors";

/** True when `signatureHex` is the HMAC-SHA256 of `data` under `secret`, compared in constant time. */
export function hmacMatches(secret: string, data: string | Buffer, signatureHex: string): boolean {
  const expected = createHmac("sha256", secret).update(data).digest();
  const given = Buffer.from(signatureHex, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The body as JSON, or INVALID_BODY. */
export function parseJson(payload: Buffer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(payload.toString("utf8"));
    if (parsed && typeof parsed === "object") return parsed as Record<string, unknown>;
  } catch {}
  throw invalidArgument("INVALID_BODY", "the body is not a JSON object");
}

export const signatureInvalid = (message: string) => invalidArgument("SIGNATURE_INVALID", message);
