import { isStaff, type Principal } from "@parley/kit/auth";
import { permissionDenied } from "@parley/kit/errors";

/**
 * Which staff may do what in trust and safety, following the back office's roles: moderators
 * (and admins) work the moderation queue and hide content; support (the kit's staff: support,
 * admins, and operators, support's former name) resolve disputes. The gRPC permission maps say the same
 * (grpc/safety-permissions.ts); these checks keep the domain honest on its own.
 */
export const MODERATOR_ROLES = ["moderator", "admin"] as const;

const hasRole = (principal: Principal, roles: readonly string[]) =>
  principal.kind === "user" && roles.includes(principal.role);

export const isModerator = (principal: Principal): boolean => hasRole(principal, MODERATOR_ROLES);
export const isSupport = isStaff;

export function requireModerator(principal: Principal): string {
  if (principal.kind !== "user" || !isModerator(principal))
    throw permissionDenied("PERMISSION_DENIED", "only moderators may do this");
  return principal.userId;
}

export function requireSupport(principal: Principal): string {
  if (principal.kind !== "user" || !isSupport(principal))
    throw permissionDenied("PERMISSION_DENIED", "only support may do this");
  return principal.userId;
}
