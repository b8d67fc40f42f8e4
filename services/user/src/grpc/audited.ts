import { staffActionsOf } from "@parley/kit/grpc";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";

/** The caller's own profile: the one named, or none named. */
const isOwn = (named: string | undefined, callerId: string) => !named || named === callerId;

/**
 * The staff actions the user service does, audited in auth's log by the kit server
 * (`staffActions`): staff changing someone else's profile (or `verified`, their own included),
 * expert profile or availability give a reason, and the change is recorded once it succeeds;
 * a call the permission map refuses (a moderator setting an expert profile) is recorded as
 * denied. A person's changes to their own account are not staff actions. UserStaffService is
 * auth's own back office calling, audited there.
 */
export const USER_STAFF_ACTIONS = staffActionsOf(UserServiceService, {
  updateProfile: {
    action: "profile.update",
    reason: "reason",
    target: (request, response) => response?.profile?.userId ?? request.profile?.userId,
    own: (request, callerId) =>
      isOwn(request.profile?.userId, callerId) && !request.updateMask?.includes("verified"),
  },
  upsertExpertProfile: {
    action: "expert.upsert",
    reason: "reason",
    target: (request) => request.expertId,
    own: (request, callerId) => isOwn(request.expertId, callerId),
  },
  setAvailability: {
    action: "expert.set_availability",
    reason: "reason",
    target: (request) => request.expertId,
    own: (request, callerId) => isOwn(request.expertId, callerId),
  },
});
