import { invalidArgument } from "@parley/kit/errors";
import type { ProfileStatus } from "./model";

/** Profiles as the back office changes them (auth's BackOfficeService authorises and audits). */
export interface ProfileStatusStore {
  /** Sets the status of an existing profile; false when there is none (nothing to hide yet). */
  setStatus(userId: string, status: ProfileStatus, now: Date): Promise<boolean>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createUserStaff(deps: { store: ProfileStatusStore; now: () => Date }) {
  return {
    /** A suspended or deleted person's expert profile leaves discovery; active brings it back. Idempotent. */
    async setProfileStatus(userId: string, status: ProfileStatus): Promise<void> {
      if (!UUID.test(userId))
        throw invalidArgument("VALIDATION_FAILED", "user_id must be a UUID", {
          fieldViolations: [{ field: "user_id", description: "must be a UUID" }],
        });
      await deps.store.setStatus(userId.toLowerCase(), status, deps.now());
    },
  };
}

export type UserStaff = ReturnType<typeof createUserStaff>;
