import { failedPrecondition, notFound, permissionDenied } from "@parley/kit/errors";
import { requireReason, type StaffAudit, type StaffCall } from "./audit";
import type { Account, AccountStatus } from "./model";
import type { AuthStore, Wallets } from "./ports";
import { requireUuid } from "./validation";

const STAFF = new Set(["admin", "support", "operator", "moderator"]);

/** The back office's actions on people's accounts, each audited in the transaction of the change. */
export function createPeople(deps: {
  store: AuthStore;
  audit: StaffAudit;
  wallets: Wallets;
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
    if (STAFF.has(account.role) && call.actor.role !== "admin")
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

  return {
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
