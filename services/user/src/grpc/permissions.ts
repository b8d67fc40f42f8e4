import { allow, type Permission } from "@parley/kit/auth";
import type { UserServiceService } from "@parley/proto/parley/user/v1/user";

/** Who may call each RPC; resource checks (your own profile, your partner's users) are in the domain. */
export const userPermissions: { [K in keyof typeof UserServiceService]: Permission } = {
  getMe: allow.signedIn,
  getUser: allow.anyOf(allow.signedIn, allow.partner("users:read", "users:sync")),
  updateProfile: allow.signedIn,
  ensureProfile: allow.services("auth"),
  syncUser: allow.partner("users:sync"),
  syncUsers: allow.partner("users:sync"),
  lookupSyncedUser: allow.services("auth"),
  upsertExpertProfile: allow.anyOf(allow.roles("expert"), allow.staff),
  setAvailability: allow.anyOf(allow.roles("expert"), allow.staff),
  getExpert: allow.anyOf(allow.anyone, allow.services("session")),
  listExperts: allow.anyone,
  reportExpertLoad: allow.services("session"),
  reportPresence: allow.services("edge", "session"),
  updateRatingSummary: allow.services("session"),
  listNotifications: allow.signedIn,
  markNotificationRead: allow.signedIn,
  markAllNotificationsRead: allow.signedIn,
  notify: allow.services("session", "billing", "auth"),
  notifyMany: allow.services("session", "billing", "auth"),
  watchMe: allow.signedIn,
  addFavourite: allow.signedIn,
  removeFavourite: allow.signedIn,
  listFavourites: allow.signedIn,
  registerDevice: allow.signedIn,
  unregisterDevice: allow.signedIn,
  getNotificationSettings: allow.signedIn,
  updateNotificationSettings: allow.signedIn,
  forgetLoginSession: allow.services("auth"),
};
