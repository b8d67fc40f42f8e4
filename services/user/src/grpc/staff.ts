import { allow, type Permission } from "@parley/kit/auth";
import { invalidArgument } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { cursors, type Paging } from "@parley/kit/paging";
import { ProfileStatus, type UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import type { UserStaff } from "../domain/staff";

/** Only auth's back office, which authorises and audits the staff member behind the call. */
export const userStaffPermissions: { [K in keyof typeof UserStaffServiceService]: Permission } = {
  setProfileStatus: allow.services("auth"),
  searchProfiles: allow.services("auth"),
  sendVerificationCode: allow.services("auth"),
};

const STATUS_TO_PROTO = {
  active: ProfileStatus.PROFILE_STATUS_ACTIVE,
  suspended: ProfileStatus.PROFILE_STATUS_SUSPENDED,
  deleted: ProfileStatus.PROFILE_STATUS_DELETED,
} as const;

const STATUS = {
  [ProfileStatus.PROFILE_STATUS_ACTIVE]: "active",
  [ProfileStatus.PROFILE_STATUS_SUSPENDED]: "suspended",
  [ProfileStatus.PROFILE_STATUS_DELETED]: "deleted",
} as const;

export function userStaffHandlers(
  staff: UserStaff,
  paging: Paging,
): Handlers<typeof UserStaffServiceService> {
  return {
    async sendVerificationCode(request) {
      await staff.sendVerificationCode({
        address: request.address,
        sms: request.sms,
        code: request.code,
        validMinutes: request.validMinutes,
      });
      return {};
    },

    async searchProfiles(request) {
      const input = { name: request.name, externalId: request.externalId, userIds: request.userIds };
      const page = paging.open(request, {
        query: ["user.SearchProfiles", input],
        sizes: { default: 20, max: 100 },
        cursor: cursors.uuid,
      });
      const found = await staff.search(input, page.after, page.size);
      return {
        profiles: found.map((profile) => ({
          userId: profile.userId,
          displayName: profile.displayName,
          partnerId: profile.partnerId ?? "",
          externalId: profile.externalId ?? "",
          status: STATUS_TO_PROTO[profile.status],
        })),
        nextPageToken: page.next(found.length === page.size ? found.at(-1)?.userId : undefined),
      };
    },

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
