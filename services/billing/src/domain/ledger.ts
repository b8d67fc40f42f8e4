import { failedPrecondition, internal, notFound } from "@parley/kit/errors";
import type { Hold, HoldChange, HoldRecord, TransactionType, WalletChanges, WalletSnapshot } from "./model";
import { INT64_MAX, minBigint } from "./money";

/** The bounds every credit to a wallet respects. */
export interface WalletLimits {
  /** No wallet may hold more than this (minor units, at most 2^63 − 1). */
  maxBalance: bigint;
}

export const insufficientFunds = (shortfall: bigint, currency: string) =>
  failedPrecondition("INSUFFICIENT_FUNDS", `insufficient funds: ${shortfall} ${currency} short`, {
    metadata: { shortfall_minor: shortfall.toString(), currency },
  });

export const holdNotFound = (holdId: string) =>
  notFound("HOLD_NOT_FOUND", `no hold ${holdId} on this wallet`);

const holdNotOpen = (hold: Hold) =>
  failedPrecondition("HOLD_NOT_OPEN", `hold ${hold.holdId} is ${hold.status}`, {
    metadata: { status: hold.status },
  });

export const walletBalanceLimit = (balance: bigint, credit: bigint, max: bigint, currency: string) =>
  failedPrecondition(
    "WALLET_BALANCE_LIMIT_EXCEEDED",
    `a wallet may hold at most ${max} ${currency}; it holds ${balance} and ${credit} more would pass that`,
    { metadata: { max_balance_minor: max.toString(), balance_minor: balance.toString(), currency } },
  );

/** An account a posting line moves: a wallet by id, an expert's earnings, or a platform account. */
export type AccountRef =
  | { kind: "wallet"; accountId: string }
  | { kind: "earnings"; userId: string }
  | { kind: "revenue" | "clearing" | "promotions" | "payout_clearing" | "paid_out" | "tds" };

export interface PostingLine {
  account: AccountRef;
  amount: bigint;
  /** The wallet's balance after this line (earnings balances are chained by the store). */
  balanceAfter: bigint | null;
}

/** One journal transaction: lines that sum to zero. */
export interface Posting {
  transactionId: string;
  type: TransactionType;
  currency: string;
  reference: string;
  lines: PostingLine[];
}

/** Builds a posting; one whose lines do not sum to zero is a bug, never written. */
export function posting(input: Posting): Posting {
  const sum = input.lines.reduce((total, line) => total + line.amount, 0n);
  if (sum !== 0n)
    throw internal("INTERNAL", `unbalanced posting ${input.transactionId}: its lines sum to ${sum}`);
  return input;
}

/** A payer's minute or capture, split: the payer pays all, the payee earns all but the commission. */
export function splitPosting(input: {
  transactionId: string;
  type: "session_charge" | "hold_capture";
  currency: string;
  reference: string;
  walletAccountId: string;
  balanceAfter: bigint;
  payeeUserId: string;
  amount: bigint;
  commission: bigint;
}): Posting {
  return posting({
    transactionId: input.transactionId,
    type: input.type,
    currency: input.currency,
    reference: input.reference,
    lines: [
      {
        account: { kind: "wallet", accountId: input.walletAccountId },
        amount: -input.amount,
        balanceAfter: input.balanceAfter,
      },
      {
        account: { kind: "earnings", userId: input.payeeUserId },
        amount: input.amount - input.commission,
        balanceAfter: null,
      },
      { account: { kind: "revenue" }, amount: input.commission, balanceAfter: null },
    ],
  });
}

/**
 * What a money move does, decided by the domain over a locked snapshot: the changes to the
 * wallet it locked (if any), the postings to write, and the answer to give.
 */
export interface WalletPlan<T> {
  wallet: WalletChanges | undefined;
  postings: Posting[];
  result: T;
}

/** True while a hold still reserves money: open and not past its expiry. */
export const isLive = (hold: HoldRecord, now: Date): boolean =>
  hold.status === "open" && hold.expiresAt.getTime() > now.getTime();

/** What a hold still reserves: its uncaptured remainder while live, nothing otherwise. */
export const reserves = (hold: HoldRecord, now: Date): bigint =>
  isLive(hold, now) ? hold.amount - hold.captured : 0n;

/** The one definition of "held": what a wallet's live holds still reserve. */
export function heldOf(holds: Iterable<HoldRecord>, now: Date): bigint {
  let held = 0n;
  for (const hold of holds) held += reserves(hold, now);
  return held;
}

/** A hold as callers see it: an open hold past its expiry is expired, whether or not the sweeper ran. */
export function holdView(hold: HoldRecord, now: Date): Hold {
  const { accountId: _account, resolvedAt: _resolved, ...view } = hold;
  return hold.status === "open" && !isLive(hold, now) ? { ...view, status: "expired" } : view;
}

/**
 * A locked wallet being planned against. Every posting and reservation on a wallet goes through
 * it, so each passes the same checks: a debit never takes more than the hold it draws from plus
 * what is available (balance − held), a reservation never more than what is available, a credit
 * never lifts the balance past the wallet limit (which is within int64). A refused move changes
 * nothing, so a plan may carry on with the next one. Holds found past their expiry are expired
 * on the spot: whatever the plan does, the stored state then agrees with what it decided on.
 */
/** A frozen wallet asked to pay or reserve (a charged minute, a hold, a capture, a refund out). */
export const walletFrozen = (userId: string) =>
  failedPrecondition("WALLET_FROZEN", "this wallet is frozen by staff: it pays nothing until unfrozen", {
    metadata: { user_id: userId },
  });

export class WalletBook {
  readonly userId: string;
  readonly currency: string;
  private readonly id: string | undefined;
  private current: bigint;
  private readonly holds = new Map<string, HoldRecord>();
  private readonly touched = new Set<string>();
  private readonly placed: HoldRecord[] = [];
  private moved = false;
  /** Frozen by staff (read under the wallet's lock). */
  readonly frozen: boolean;

  constructor(
    snapshot: WalletSnapshot,
    private readonly now: Date,
    private readonly limits: WalletLimits,
  ) {
    this.id = snapshot.accountId;
    this.userId = snapshot.userId;
    this.currency = snapshot.currency;
    this.current = snapshot.balance;
    this.frozen = snapshot.frozen ?? false;
    for (const hold of snapshot.holds) {
      if (hold.status === "open" && !isLive(hold, now)) {
        this.holds.set(hold.holdId, { ...hold, status: "expired", resolvedAt: now });
        this.touched.add(hold.holdId);
      } else {
        this.holds.set(hold.holdId, hold);
      }
    }
  }

  /** The wallet's account, when it has one (a wallet that never received money has none). */
  get accountId(): string | undefined {
    return this.id;
  }

  get balance(): bigint {
    return this.current;
  }

  get held(): bigint {
    return heldOf(this.holds.values(), this.now);
  }

  get available(): bigint {
    return this.current - this.held;
  }

  /** A hold of this wallet, as it stands in the plan so far. */
  hold(holdId: string): HoldRecord | undefined {
    return this.holds.get(holdId);
  }

  /** Refuses unless the hold is on this wallet and live; returns it. */
  liveHold(holdId: string): HoldRecord {
    const hold = this.holds.get(holdId);
    if (!hold) throw holdNotFound(holdId);
    if (!isLive(hold, this.now)) throw holdNotOpen(holdView(hold, this.now));
    return hold;
  }

  /**
   * Takes `amount` off the balance, drawn first from the remainder of `holdId` (when given and
   * live), then from what is available.
   */
  debit(amount: bigint, holdId = ""): { fromHold: bigint; balanceAfter: bigint; holdRemaining: bigint } {
    this.refuseIfFrozen();
    const hold = holdId ? this.holds.get(holdId) : undefined;
    if (holdId && !hold) throw holdNotFound(holdId);
    const remaining = hold ? reserves(hold, this.now) : 0n;
    const fromHold = minBigint(remaining, amount);
    const fromAvailable = amount - fromHold;
    if (this.id === undefined) throw insufficientFunds(fromAvailable, this.currency);
    const available = this.available;
    if (fromAvailable > available) throw insufficientFunds(fromAvailable - available, this.currency);
    if (hold && fromHold > 0n) this.draw(hold, fromHold);
    this.current -= amount;
    this.moved = true;
    return {
      fromHold,
      balanceAfter: this.current,
      holdRemaining: hold ? reserves(this.holds.get(hold.holdId)!, this.now) : 0n,
    };
  }

  /** Takes `amount` from a live hold's remainder only (a capture); refuses more than remains. */
  capture(holdId: string, amount: bigint): { balanceAfter: bigint; hold: HoldRecord } {
    this.refuseIfFrozen();
    const hold = this.liveHold(holdId);
    const remaining = hold.amount - hold.captured;
    if (amount > remaining)
      throw failedPrecondition("HOLD_AMOUNT_EXCEEDED", `only ${remaining} remains on hold ${holdId}`, {
        metadata: { remaining_minor: remaining.toString() },
      });
    this.draw(hold, amount);
    this.current -= amount;
    this.moved = true;
    return { balanceAfter: this.current, hold: this.holds.get(holdId)! };
  }

  /** Staff froze the wallet: no money leaves it and none is reserved (credits still land). */
  private refuseIfFrozen(): void {
    if (this.frozen) throw walletFrozen(this.userId);
  }

  /** Refuses a credit that would lift the balance past the wallet limit (never past int64). */
  creditable(amount: bigint): void {
    const max = minBigint(this.limits.maxBalance, INT64_MAX);
    if (this.current + amount > max) throw walletBalanceLimit(this.current, amount, max, this.currency);
  }

  /** Adds `amount` to the balance, within the wallet limit. */
  credit(amount: bigint): bigint {
    this.creditable(amount);
    if (this.id === undefined) throw internal("INTERNAL", "a credited wallet must exist");
    this.current += amount;
    this.moved = true;
    return this.current;
  }

  /** Places a new hold; refuses one larger than what is available. */
  reserve(hold: HoldRecord): HoldRecord {
    this.refuseIfFrozen();
    const available = this.id === undefined ? 0n : this.available;
    if (hold.amount > available) throw insufficientFunds(hold.amount - available, this.currency);
    const placed = { ...hold, accountId: this.id! };
    this.holds.set(placed.holdId, placed);
    this.placed.push(placed);
    return placed;
  }

  /** Resolves a live hold: what remains of it is available again. */
  release(holdId: string): HoldRecord {
    const hold = this.liveHold(holdId);
    return this.change(hold, { status: "released", resolvedAt: this.now });
  }

  /** Moves a live hold's expiry later (never earlier). */
  extend(holdId: string, expiresAt: Date): HoldRecord {
    const hold = this.liveHold(holdId);
    return this.change(hold, {
      expiresAt: expiresAt.getTime() > hold.expiresAt.getTime() ? expiresAt : hold.expiresAt,
    });
  }

  /** True when the plan changes anything stored on this wallet. */
  get changed(): boolean {
    return this.moved || this.touched.size > 0 || this.placed.length > 0;
  }

  /** The wallet's stored changes; the reservation total counts every hold left stored as open. */
  changes(): WalletChanges {
    if (this.id === undefined) throw internal("INTERNAL", "only an existing wallet changes");
    const placedIds = new Set(this.placed.map((hold) => hold.holdId));
    let openHeld = 0n;
    for (const hold of this.holds.values())
      if (hold.status === "open") openHeld += hold.amount - hold.captured;
    return {
      accountId: this.id,
      balance: this.current,
      openHeld,
      holds: [...this.touched]
        .filter((holdId) => !placedIds.has(holdId))
        .map((holdId): HoldChange => {
          const hold = this.holds.get(holdId)!;
          return {
            holdId,
            captured: hold.captured,
            status: hold.status,
            expiresAt: hold.expiresAt,
            resolvedAt: hold.resolvedAt,
          };
        }),
      placed: this.placed.map((hold) => this.holds.get(hold.holdId)!),
    };
  }

  private draw(hold: HoldRecord, amount: bigint): void {
    const captured = hold.captured + amount;
    this.change(
      hold,
      captured === hold.amount ? { captured, status: "captured", resolvedAt: this.now } : { captured },
    );
  }

  private change(hold: HoldRecord, patch: Partial<HoldRecord>): HoldRecord {
    const next = { ...hold, ...patch };
    this.holds.set(hold.holdId, next);
    this.touched.add(hold.holdId);
    return next;
  }
}
