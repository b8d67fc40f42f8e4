import { invalidArgument } from "@parley/kit/errors";

const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

const violation = (field: string, description: string) =>
  invalidArgument("VALIDATION_FAILED", `${field} ${description}`, {
    fieldViolations: [{ field, description }],
  });

/**
 * One spelling per address: trimmed, composed (NFC: "é" typed as e + accent is the same
 * address as "é") and lower-cased.
 */
export const normaliseEmail = (email: string) => email.trim().normalize("NFC").toLowerCase();

/** A normalised email address of at most 254 characters (RFC 5321's path limit). */
const isEmail = (normalised: string) => normalised.length <= 254 && EMAIL.test(normalised);

export function checkEmail(email: string, field = "email"): string {
  const normalised = normaliseEmail(email);
  if (!isEmail(normalised)) throw violation(field, "must be an email address");
  return normalised;
}

export function checkPhone(phone: string, field = "phone"): string {
  const trimmed = phone.trim();
  if (!E164.test(trimmed)) throw violation(field, "must be an E.164 phone number such as +919812345678");
  return trimmed;
}

/**
 * An email or phone login identifier, normalised. Anything else is refused as malformed (which
 * says nothing about any account): it could name no account, and a reset's no-account notice to
 * it could never be delivered.
 */
export function parseIdentifier(identifier: string): { email?: string; phone?: string; key: string } {
  const trimmed = identifier.trim();
  if (E164.test(trimmed)) return { phone: trimmed, key: trimmed };
  const email = normaliseEmail(trimmed);
  if (!isEmail(email))
    throw violation("identifier", "must be an email address or an E.164 phone number such as +919812345678");
  return { email, key: email };
}

export function requireText(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw violation(field, "is required");
  if (trimmed.length > max) throw violation(field, `must be at most ${max} characters`);
  return trimmed;
}
