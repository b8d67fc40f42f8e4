import { invalidArgument } from "./errors";

/** The longest reason a staff member may give, in characters once trimmed. */
export const MAX_REASON_LENGTH = 1000;

/**
 * The reason a staff action must give, trimmed: 1..MAX_REASON_LENGTH characters, else
 * INVALID_ARGUMENT REASON_REQUIRED with a violation of `field` (the request field holding it).
 */
export function requireReason(text: string, field = "reason"): string {
  const reason = text.trim();
  const refuse = (message: string, description: string) =>
    invalidArgument("REASON_REQUIRED", `${message} (${field})`, {
      fieldViolations: [{ field, description }],
    });
  if (!reason) throw refuse("a staff action needs a reason", "required for a staff action");
  if (reason.length > MAX_REASON_LENGTH)
    throw refuse(
      `a staff action's reason is at most ${MAX_REASON_LENGTH} characters`,
      `must be at most ${MAX_REASON_LENGTH} characters`,
    );
  return reason;
}
