import { allow, type Permission } from "@parley/kit/auth";
import { enumMapping } from "@parley/kit/enums";
import type { Handlers } from "@parley/kit/grpc";
import { cursors, type Paging } from "@parley/kit/paging";
import { ProfileStatus, type UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import type { ProfileSummary, UserStaff } from "../domain/staff";

/** Only auth's back office, which authorises and audits the staff member behind the call. */
export const userStaffPermissions: { [K in keyof typeof UserStaffServiceService]: Permission } = {
  setProfileStatus: allow.services("auth"),
  searchProfiles: allow.services("auth"),
  sendVerificationCode: allow.services("auth"),
  sendPasswordReset: allow.services("auth"),
  sendNoAccountNotice: allow.services("auth"),
};

const STATUS = enumMapping<ProfileSummary["status"], ProfileStatus>({
  active: ProfileStatus.PROFILE_STATUS_ACTIVE,
  suspended: ProfileStatus.PROFILE_STATUS_SUSPENDED,
  deleted: ProfileStatus.PROFILE_STATUS_DELETED,
});

export function userStaffHandlers(
  staff: UserStaff,
  paging: Paging,
): Handlers<typeof UserStaffServiceService> {
  return {
    async sendVerificationCode(request) {
      await staff.sendVerificationCode({
        userId: request.userId,
        address: request.address,
        sms: request.sms,
        code: request.code,
        validMinutes: request.validMinutes,
        acceptLanguage: request.acceptLanguage,
      });
      return {};
    },

    async sendPasswordReset(request) {
      await staff.sendPasswordReset({
        address: request.address,
        sms: request.sms,
        resetToken: request.resetToken,
        expiresAt: request.expiresAt,
        userId: request.userId,
        acceptLanguage: request.acceptLanguage,
      });
      return {};
    },

    async sendNoAccountNotice(request) {
      await staff.sendNoAccountNotice({
        address: request.address,
        sms: request.sms,
        acceptLanguage: request.acceptLanguage,
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
          status: STATUS.toProto(profile.status),
        })),
        nextPageToken: page.next(found.length === page.size ? found.at(-1)?.userId : undefined),
      };
    },

    async setProfileStatus(request) {
      await staff.setProfileStatus(request.userId, STATUS.toDomain(request.status, "status"));
      return {};
    },
  };
}
