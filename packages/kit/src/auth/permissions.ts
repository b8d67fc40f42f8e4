import { permissionDenied, unauthenticated } from "../errors";
import { type PersonRole, type Principal, ROLES, STAFF_ROLES } from "./principal";

/**
 * Who may call one RPC. A principal passes when any listed kind matches: anonymous callers
 * when `anonymous`, people with one of `roles`, service identities named in `services`,
 * partner API keys holding one of `partnerScopes`. Resource checks (is this *your* wallet)
 * stay in the handler.
 */
export interface Permission {
  anonymous?: boolean;
  roles?: readonly PersonRole[];
  services?: readonly string[];
  partnerScopes?: readonly string[];
}

const PEOPLE: readonly PersonRole[] = ROLES.filter((role): role is PersonRole => role !== "service");

export const allow = {
  /** Anyone, signed in or not (register, login, public catalogue). */
  anyone: { anonymous: true, roles: PEOPLE } satisfies Permission,
  /** Any signed-in person. */
  signedIn: { roles: PEOPLE } satisfies Permission,
  roles: (...roles: PersonRole[]): Permission => ({ roles }),
  /** Support and admins (and operators, support's former name). */
  staff: { roles: STAFF_ROLES } satisfies Permission,
  services: (...services: string[]): Permission => ({ services }),
  partner: (...partnerScopes: string[]): Permission => ({ partnerScopes }),
  /** The union of several permissions. */
  anyOf: (...permissions: Permission[]): Permission => ({
    anonymous: permissions.some((p) => p.anonymous),
    roles: [...new Set(permissions.flatMap((p) => p.roles ?? []))],
    services: [...new Set(permissions.flatMap((p) => p.services ?? []))],
    partnerScopes: [...new Set(permissions.flatMap((p) => p.partnerScopes ?? []))],
  }),
};

/**
 * Throws unless the principal may call an RPC with this permission. An RPC with no entry in
 * its service's permission map (permission undefined) is denied to everyone.
 */
export function authorize(permission: Permission | undefined, principal: Principal): void {
  if (!permission) throw permissionDenied("RPC_NOT_PERMITTED", "this RPC is not open to any caller");
  switch (principal.kind) {
    case "anonymous":
      if (permission.anonymous) return;
      throw unauthenticated("UNAUTHENTICATED", "sign in to call this RPC");
    case "user":
      if (permission.roles?.includes(principal.role)) return;
      break;
    case "service":
      if (permission.services?.includes(principal.service)) return;
      break;
    case "partner":
      if (permission.partnerScopes?.some((scope) => principal.scopes.includes(scope))) return;
      break;
  }
  throw permissionDenied("PERMISSION_DENIED", "the caller may not call this RPC");
}
