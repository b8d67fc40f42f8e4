import { allow, type Permission, readStaffRules, staffPermissions } from "@parley/kit/auth";
import type { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { BackOfficeServiceService } from "@parley/proto/parley/auth/v1/backoffice";

/** Every Parley service may check API keys; only auth issues tokens, so it is not listed. */
const PLATFORM_SERVICES = ["user", "session", "billing", "edge"];

/** Who may call each RPC; resource checks (your own sessions) are in the domain. */
export const authPermissions: { [K in keyof typeof AuthServiceService]: Permission } = {
  register: allow.anyone,
  login: allow.anyone,
  completeMfaLogin: allow.anyone,
  refreshToken: allow.anyone,
  logout: allow.signedIn,
  listSessions: allow.signedIn,
  revokeSession: allow.signedIn,
  changePassword: allow.signedIn,
  requestPasswordReset: allow.anyone,
  resetPassword: allow.anyone,
  enrollTotp: allow.signedIn,
  confirmTotp: allow.signedIn,
  disableTotp: allow.signedIn,
  regenerateBackupCodes: allow.signedIn,
  // A partner key can carry tokens:exchange (act as any of its users): admins only.
  createApiKey: allow.roles("admin"),
  listApiKeys: allow.staff,
  revokeApiKey: allow.staff,
  verifyApiKey: allow.services(...PLATFORM_SERVICES),
  listRevocations: allow.services(...PLATFORM_SERVICES),
  recordStaffAction: allow.services(...PLATFORM_SERVICES),
  exchangeToken: allow.partner("tokens:exchange"),
  getJwks: allow.anyOf(allow.anyone, allow.services(...PLATFORM_SERVICES)),
  rotateSigningKey: allow.roles("admin"),
  // Services ask for their token before they have one, and may renew with it.
  issueServiceToken: allow.anyOf(allow.anyone, allow.services(...PLATFORM_SERVICES)),
  setUserRole: allow.roles("admin"),
};

/** The back office's permission matrix, read from the `(parley.auth.v1.staff)` options in backoffice.proto. */
export const backOfficeRules = readStaffRules("parley.auth.v1.BackOfficeService");

export const backOfficePermissions = staffPermissions(BackOfficeServiceService, backOfficeRules);
