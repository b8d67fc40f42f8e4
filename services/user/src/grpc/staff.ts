import { allow, type Permission } from "@parley/kit/auth";
import { invalidArgument } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { ProfileStatus, type UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import type { UserStaff } from "../domain/staff";

/** Only auth's back office, which authorises and audits the staff member behind the call. */
export const userStaffPermissions: { [K in keyof typeof UserStaffServiceService]: Permission } = {
  setProfileStatus: allow.services("auth"),
};

const STATUS = {
  [ProfileStatus.PROFILE_STATUS_ACTIVE]: "active",
  [ProfileStatus.PROFILE_STATUS_SUSPENDED]: "suspended",
  [ProfileStatus.PROFILE_STATUS_DELETED]: "deleted",
} as const;

export function userStaffHandlers(staff: UserStaff): Handlers<typeof UserStaffServiceService> {
  return {
    async setProfileStatus(request) {
      const status = STATUS[request.status as keyof typeof STATUS];
      if (!status)
        throw invalidArgument("VALIDATION_FAILED", "status must be active, suspended or deleted", {
          fieldViolations: [{ field: "status", description: "must be set" }],
        });
      await staff.setProfileStatus(request.userId, status);
      return {};
    },
  };
}
