import { permissionDenied, unauthenticated } from "@parley/kit/errors";
import type { Account } from "./model";

/**
 * Refuses to sign in a suspended account (checked after its password, so the answer tells only
 * its holder) or a deleted one (which reads as an unknown account).
 */
export function assertUsable(account: Account): void {
  if (account.status === "suspended")
    throw permissionDenied("ACCOUNT_SUSPENDED", "this account is suspended; contact support");
  if (account.status === "deleted")
    throw unauthenticated("INVALID_CREDENTIALS", "the credentials are not valid");
}
