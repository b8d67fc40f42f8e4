import { allow, type Permission } from "@parley/kit/auth";
import type { SessionServiceService } from "@parley/proto/parley/session/v1/session";

/** Who may call each RPC; whether the caller takes part in the session is checked in the domain. */
export const sessionPermissions: { [K in keyof typeof SessionServiceService]: Permission } = {
  requestSession: allow.signedIn,
  acceptSession: allow.signedIn,
  declineSession: allow.signedIn,
  cancelSession: allow.signedIn,
  endSession: allow.signedIn,
  getSession: allow.signedIn,
  listSessions: allow.signedIn,
  getQueue: allow.signedIn,
  sendMessage: allow.signedIn,
  listMessages: allow.signedIn,
  markRead: allow.signedIn,
  sendTyping: allow.signedIn,
  sendSignal: allow.signedIn,
  submitReview: allow.signedIn,
  reportPresence: allow.services("edge"),
  watchSession: allow.signedIn,
};
