import { allow, BACK_OFFICE_ROLES, type Permission } from "@parley/kit/auth";
import type { SafetyServiceService } from "@parley/proto/parley/session/v1/safety";
import { MODERATOR_ROLES } from "../domain/staff";

/**
 * Who may call each SafetyService RPC: moderators (and admins) the moderation queue and hiding,
 * support (and admins, operators) disputes — the back office's roles (domain/staff.ts checks
 * the same).
 */
const moderator = allow.roles(...MODERATOR_ROLES);
const support = allow.staff;

export const safetyPermissions: { [K in keyof typeof SafetyServiceService]: Permission } = {
  blockPerson: allow.signedIn,
  unblockPerson: allow.signedIn,
  listBlocks: allow.signedIn,
  fileReport: allow.signedIn,
  listReports: moderator,
  resolveReport: moderator,
  openDispute: allow.signedIn,
  getDispute: allow.signedIn,
  listDisputes: support,
  resolveDispute: support,
  listExpertReviews: allow.anyone,
  replyToReview: allow.signedIn,
  hideReview: moderator,
  rateUser: allow.signedIn,
  getUserRating: allow.roles("expert", ...BACK_OFFICE_ROLES),
  getExpertDashboard: allow.signedIn,
};
