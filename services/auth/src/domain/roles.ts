import type { PersonRole } from "@parley/kit/auth";

/** How much a role may do over others: admin above support (and operator, its former name), above moderator, above everyone else. */
const RANK: Record<PersonRole, number> = {
  user: 0,
  expert: 0,
  moderator: 1,
  support: 2,
  operator: 2,
  admin: 3,
};

/**
 * Whether a role change takes rights away, so tokens carrying the old role must stop working
 * at once: a lower staff rank (admin → support, support → moderator, any staff → user), or an
 * expert made a user. Support ↔ operator (the same rights) and promotions are not.
 */
export function isDemotion(before: PersonRole, after: PersonRole): boolean {
  if (before === after) return false;
  if (RANK[after] < RANK[before]) return true;
  // An expert's token opens the expert's desk (earnings, payouts, the queue).
  return before === "expert" && after === "user";
}
