/** Account roles. `service` is only ever held by service identities, never by a person. */
export const ROLES = ["user", "expert", "operator", "admin", "support", "moderator", "service"] as const;
export type Role = (typeof ROLES)[number];
export type PersonRole = Exclude<Role, "service">;

/** How strongly the person proved who they are (NIST AAL): password, or password + second factor. */
export type Assurance = "aal1" | "aal2";

export type Principal =
  | { kind: "anonymous" }
  | {
      kind: "user";
      userId: string;
      role: PersonRole;
      /** The login session (refresh-token family) the token belongs to. */
      sessionId: string;
      assurance: Assurance;
      /** Set when a partner obtained this token through ExchangeToken for one of its users. */
      partnerId?: string;
    }
  | { kind: "service"; service: string }
  | { kind: "partner"; partnerId: string; keyId: string; scopes: string[] };

export type UserPrincipal = Extract<Principal, { kind: "user" }>;
export type ServicePrincipal = Extract<Principal, { kind: "service" }>;
export type PartnerPrincipal = Extract<Principal, { kind: "partner" }>;

export const ANONYMOUS: Principal = { kind: "anonymous" };

/** Operators are support under the role's former name: wherever support may act, so may they. */
export function withFormerNames(roles: readonly PersonRole[]): PersonRole[] {
  return roles.includes("support") && !roles.includes("operator") ? [...roles, "operator"] : [...roles];
}

/**
 * Staff who may act on other people's resources: support, admins, and operators (support's
 * former name, the same rights). Moderators are staff too but act only through the RPCs that
 * name them (the back office's permission matrix), never on money or other people's sessions.
 */
export const STAFF_ROLES: readonly PersonRole[] = withFormerNames(["support", "admin"]);

/** Everyone who works the back office: the staff above and moderators. */
export const BACK_OFFICE_ROLES: readonly PersonRole[] = [...STAFF_ROLES, "moderator"];

export function isStaff(principal: Principal): boolean {
  return principal.kind === "user" && STAFF_ROLES.includes(principal.role);
}
