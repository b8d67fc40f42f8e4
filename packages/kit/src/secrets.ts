/**
 * Field names that hold secrets in Parley's messages (proto field names, camelCase as decoded):
 * credentials, one-time codes, and payout account details.
 */
export const SECRET_FIELDS: readonly string[] = [
  "password",
  "newPassword",
  "currentPassword",
  "token",
  "accessToken",
  "refreshToken",
  "resetToken",
  "challengeToken",
  "secret",
  "clientSecret",
  "apiKey",
  "code",
  "mfaCode",
  "backupCodes",
  "otpauthUri",
  "authorization",
  "accountNumber",
  "ifsc",
  "upiId",
];

const SECRET_FIELD_SET = new Set(SECRET_FIELDS);

/** A request kept larger than this is recorded as its size only. */
export const MAX_RECORDED_REQUEST_BYTES = 8192;

/**
 * A JSON-safe copy of a request for a record that outlives it (the audit log): int64 as strings,
 * every secret field left out at any depth, and no more than MAX_RECORDED_REQUEST_BYTES of it —
 * a larger request is recorded as `{ truncated: true, bytes }`.
 */
export function recordableRequest(request: unknown): Record<string, unknown> {
  const json = JSON.stringify(request ?? {}, (key, value: unknown) =>
    SECRET_FIELD_SET.has(key) ? undefined : typeof value === "bigint" ? value.toString() : value,
  );
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RECORDED_REQUEST_BYTES) return { truncated: true, bytes };
  const copy: unknown = JSON.parse(json);
  return typeof copy === "object" && copy !== null && !Array.isArray(copy)
    ? (copy as Record<string, unknown>)
    : {};
}
