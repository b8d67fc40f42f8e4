import { BACK_OFFICE_ROLES } from "@parley/kit/auth";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "@parley/kit/errors";
import { requireUuid } from "@parley/kit/ids";
import { requireReason } from "@parley/kit/staff-reason";
import type { StaffAudit, StaffCall } from "./audit";
import type { Account, AccountStatus } from "./model";
import type { AccountStore, ProfileSummary, StaffProfiles, Wallets } from "./ports";
import { normaliseEmail } from "./validation";

/** One person as staff see them: the account with its profile (when the user service has one). */
export interface Person {
  userId: string;
  /** Absent for a partner's synced user who never signed in. */
  account: Account | undefined;
  profile: ProfileSummary | undefined;
}

export type PeopleQuery = { email: string } | { phone: string } | { name: string } | { externalId: string };

/** Exactly one search field, as given; VALIDATION_FAILED otherwise. */
/** The shortest email or name a search takes; a phone needs a country code and digits. */
export const MIN_SEARCH_PREFIX = 3;
export const MIN_PHONE_PREFIX = 6;

export function peopleQuery(input: {
  email: string;
  phone: string;
  name: string;
  externalId: string;
}): PeopleQuery {
  const given = (
    [
      ["email", normaliseEmail(input.email)],
      ["phone", input.phone.trim()],
      ["name", input.name.trim()],
      ["externalId", input.externalId.trim()],
    ] as const
  ).filter(([, value]) => value !== "");
  if (given.length !== 1 || given[0]![1].length > 254)
    throw invalidArgument("VALIDATION_FAILED", "search by exactly one of email, phone, name, external_id", {
      fieldViolations: [
        { field: "email", description: "give exactly one of email, phone, name, external_id" },
      ],
    });
  const [field, value] = given[0]!;
  // No listing everyone by a letter: a prefix narrows to few people or is refused (a phone's
  // "+91" alone is a whole country, so a phone needs a few digits after it).
  const least = field === "phone" ? MIN_PHONE_PREFIX : field === "externalId" ? 1 : MIN_SEARCH_PREFIX;
  if ([...value].length < least)
    throw invalidArgument("VALIDATION_FAILED", `a ${field} search needs at least ${least} characters`, {
      fieldViolations: [{ field, description: `at least ${least} characters` }],
    });
  return { [field]: value } as PeopleQuery;
}

/** The back office's actions on people's accounts, each audited in the transaction of the change. */
export function createPeople(deps: {
  store: AccountStore;
  audit: StaffAudit;
  wallets: Wallets;
  profiles: StaffProfiles;
  now: () => Date;
}) {
  const { store, audit, now } = deps;

  /** Loads the target, refusing what no staff member may do to it. */
  async function target(call: StaffCall, userId: string): Promise<Account> {
    const id = requireUuid(userId, "user_id");
    const account = await store.findAccount(id);
    if (!account) throw notFound("ACCOUNT_NOT_FOUND", "no such account");
    if (account.status === "deleted") throw failedPrecondition("ACCOUNT_DELETED", "the account was deleted");
    // Support acts on customers and experts; only an admin acts on another staff member.
    if (BACK_OFFICE_ROLES.includes(account.role) && call.actor.role !== "admin")
      throw permissionDenied("STAFF_TARGET_ADMIN_ONLY", "only an admin may act on a staff account");
    return account;
  }

  /** A deleted account's wallet may still be unfrozen (its money stays for the ledger). */
  async function findForUnfreeze(call: StaffCall, userId: string): Promise<Account> {
    const id = requireUuid(userId, "user_id");
    const account = await store.findAccount(id);
    if (!account) throw notFound("ACCOUNT_NOT_FOUND", "no such account");
    if (account.status !== "deleted") return target(call, userId);
    return account;
  }

  async function change(
    call: StaffCall,
    account: Account,
    reason: string,
    to: AccountStatus,
    options: { from: AccountStatus[]; revoke?: string },
  ): Promise<Account> {
    const changed = await store.changeAccountStatus({
      accountId: account.id,
      from: options.from,
      to,
      at: now(),
      ...(options.revoke ? { revoke: options.revoke } : {}),
      record: (before) =>
        audit.done(call, {
          targetUserId: account.id,
          reason,
          before: { status: before.status },
          after: { status: to },
        }),
      messages: [
        { kind: "profile.status", payload: { userId: account.id, status: to } },
        ...(to === "suspended"
          ? [
              {
                kind: "sessions.end" as const,
                payload: { userId: account.id, reason: "account_suspended" as const },
              },
            ]
          : []),
      ],
    });
    switch (changed.outcome) {
      case "ok":
        return changed.account;
      case "not_found":
        throw notFound("ACCOUNT_NOT_FOUND", "no such account");
      case "last_admin":
        throw failedPrecondition("LAST_ADMIN", "the last active admin cannot be suspended");
      case "unchanged": {
        if (changed.account.status === "deleted")
          throw failedPrecondition("ACCOUNT_DELETED", "the account was deleted");
        // Already as asked: nothing changes, and the attempt is on the record all the same.
        const status = changed.account.status;
        await audit.append([
          audit.done(call, { targetUserId: account.id, reason, before: { status }, after: { status } }),
        ]);
        return changed.account;
      }
    }
  }

  const withProfiles = async (found: Account[]): Promise<Person[]> => {
    if (found.length === 0) return [];
    const profiles = await deps.profiles.byIds(found.map((account) => account.id));
    const byId = new Map(profiles.map((profile) => [profile.userId, profile]));
    return found.map((account) => ({ userId: account.id, account, profile: byId.get(account.id) }));
  };

  return {
    /**
     * Accounts by email or phone prefix (auth's own, paged by account id), or profiles by name
     * or external id (the user service's, paged by its own token), each with the other half.
     */
    async search(
      query: PeopleQuery,
      page: { size: number; afterId: string | undefined; token: string },
    ): Promise<{ people: Person[]; nextAfterId?: string; nextPageToken?: string }> {
      if ("email" in query || "phone" in query) {
        const [by, prefix] =
          "email" in query ? (["email", query.email] as const) : (["phone", query.phone] as const);
        const found = await store.searchAccounts(by, prefix, page.afterId, page.size);
        const nextAfterId = found.length === page.size ? found.at(-1)?.id : undefined;
        return { people: await withProfiles(found), ...(nextAfterId ? { nextAfterId } : {}) };
      }
      const { profiles, nextPageToken } = await deps.profiles.search(query, page.size, page.token);
      const accounts = new Map(
        (await store.findAccounts(profiles.map((profile) => profile.userId))).map((a) => [a.id, a]),
      );
      return {
        people: profiles.map((profile) => ({
          userId: profile.userId,
          account: accounts.get(profile.userId),
          profile,
        })),
        nextPageToken,
      };
    },

    /** One person's account and profile, the view recorded (action of the call's staff rule). */
    async view(call: StaffCall, userId: string, reasonText: string): Promise<Person> {
      const reason = requireReason(reasonText);
      const id = requireUuid(userId, "user_id");
      const account = await store.findAccount(id);
      if (!account) throw notFound("ACCOUNT_NOT_FOUND", "no such account");
      await audit.append([audit.done(call, { targetUserId: id, reason, before: null, after: null })]);
      const [person] = await withProfiles([account]);
      return person!;
    },

    async suspend(call: StaffCall, userId: string, reasonText: string): Promise<Account> {
      const reason = requireReason(reasonText);
      const account = await target(call, userId);
      if (account.id === call.actor.userId)
        throw failedPrecondition("CANNOT_SUSPEND_SELF", "staff cannot suspend themselves");
      return change(call, account, reason, "suspended", { from: ["active"], revoke: "account_suspended" });
    },

    /**
     * Freezes or unfreezes the person's wallets in billing, then records it (with whether they
     * were frozen before). Billing not answering fails the call and nothing is recorded; a retry
     * is safe (the change is idempotent).
     */
    async setWalletFrozen(
      call: StaffCall,
      userId: string,
      reasonText: string,
      frozen: boolean,
    ): Promise<boolean> {
      const reason = requireReason(reasonText);
      const account = frozen ? await target(call, userId) : await findForUnfreeze(call, userId);
      const { wasFrozen } = await deps.wallets.setFrozen(account.id, frozen);
      await audit.append([
        audit.done(call, {
          targetUserId: account.id,
          reason,
          before: { wallet_frozen: wasFrozen },
          after: { wallet_frozen: frozen },
        }),
      ]);
      return frozen;
    },

    async unsuspend(call: StaffCall, userId: string, reasonText: string): Promise<Account> {
      const reason = requireReason(reasonText);
      return change(call, await target(call, userId), reason, "active", { from: ["suspended"] });
    },
  };
}

export type People = ReturnType<typeof createPeople>;
