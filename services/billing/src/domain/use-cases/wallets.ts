import { failedPrecondition } from "@parley/kit/errors";
import { heldOf } from "../ledger";
import type { AccountEntry, IdempotencyScope, Money, UserAccountKind, WalletView } from "../model";
import { minutesPayable } from "../money";
import { planGrant } from "../payments";
import type { Core } from "./core";

/** Wallets: reading them and their history, freezing them, what is pending, staff credit grants. */
export function wallets(core: Core) {
  const { store, now, checks, currencyOr, key, context } = core;

  return {
    /** Freezes or unfreezes a person's wallets (auth's back office authorises and audits). */
    async setWalletFrozen(userId: string, frozen: boolean): Promise<{ wasFrozen: boolean }> {
      checks()
        .require(userId.length > 0 && userId.length <= 64, "user_id", "required")
        .done();
      return store.freezes.setFrozen(userId, frozen, [...core.supportedCurrencies], now());
    },

    /** Open holds, unsettled top-ups (and top-up refunds), withdrawals in flight of a person. */
    pendingMoney(userId: string) {
      checks()
        .require(userId.length > 0 && userId.length <= 64, "user_id", "required")
        .done();
      return store.freezes.pending(userId);
    },

    async getWallet(userId: string, currency: string, rate: bigint): Promise<WalletView> {
      const chosen = currencyOr(currency);
      checks()
        .require(rate >= 0n, "rate_minor", "must not be negative")
        .done();
      const wallet = await store.wallets.read(userId, chosen);
      const held = heldOf(wallet.holds, now());
      const available = wallet.balance - held;
      return {
        userId,
        currency: chosen,
        balance: wallet.balance,
        held,
        available,
        minutesLeft: minutesPayable(available, rate),
        frozen: wallet.frozen ?? false,
      };
    },

    listTransactions(input: {
      userId: string;
      kind: UserAccountKind;
      currency: string;
      beforeEntryId: bigint | undefined;
      limit: number;
    }): Promise<AccountEntry[]> {
      return store.wallets.entries({ ...input, currency: currencyOr(input.currency) });
    },

    grantCredit(
      scope: IdempotencyScope,
      input: {
        userId: string;
        amount: Money | undefined;
        note: string;
        requestId: string;
        /** The staff member granting: nobody credits their own wallet. */
        actorUserId?: string;
      },
    ): Promise<{ transactionId: string; wallet: WalletView }> {
      if (input.actorUserId && input.actorUserId.toLowerCase() === input.userId.toLowerCase())
        throw failedPrecondition(
          "SELF_CREDIT_REFUSED",
          "staff may not grant credit to their own wallet; ask another admin",
        );
      checks()
        .require(input.userId.length > 0, "user_id", "required")
        .positiveMoney(input.amount, "amount")
        .requestId(input.requestId)
        .done();
      const at = now();
      return store.wallets.credit(
        key(scope, "grant", input.requestId, { ...input, requestId: undefined, actorUserId: undefined }),
        { userId: input.userId, currency: input.amount!.currency, now: at },
        (wallet) => planGrant(wallet, input.amount!.amountMinor, context(at)),
      );
    },
  };
}
