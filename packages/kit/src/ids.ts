import { v7 } from "uuid";
import { invalidArgument } from "./errors";

/** A new UUIDv7: time-ordered, so ids sort by creation and index well. */
export const newId = (): string => v7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

/** The id, lowercased; INVALID_ARGUMENT (VALIDATION_FAILED, a violation of `field`) unless a UUID. */
export function requireUuid(value: string, field: string): string {
  if (!isUuid(value))
    throw invalidArgument("VALIDATION_FAILED", `${field} must be a UUID`, {
      fieldViolations: [{ field, description: "must be a UUID" }],
    });
  return value.toLowerCase();
}
