import type { WalletSnapshot } from "../domain/model";
import { type HoldRow, type WalletRow, walletSnapshots } from "./rows";
import { array, type Sql } from "./sql";

/** One wallet asked for, and everyone waiting for it. */
interface Wanted {
  userId: string;
  currency: string;
  callers: { resolve: (wallet: WalletSnapshot) => void; reject: (error: unknown) => void }[];
}

type WalletHoldRow = HoldRow & {
  wallet_owner: string;
  wallet_currency: string;
  wallet_id: string;
  balance: bigint;
  frozen: boolean;
  hold_id: string | null;
};

const keyOf = (userId: string, currency: string) => `${userId}\u0000${currency}`;

/**
 * How long a batch waits for the statement in flight to answer before it goes anyway: a stuck
 * connection delays the reads behind it by this much, not until it fails.
 */
export const WALLET_READ_MAX_WAIT_MS = 5;

/**
 * Reads wallets and their open holds without locks, the reads asked for together in one statement
 * (a relayed stream hands billing many calls in one read). A batch is sent from `setImmediate`,
 * once this turn's calls have asked, so a lone read waits for nothing but the rest of its turn.
 * While a statement is in flight the next batch also waits for its answer (at most
 * `WALLET_READ_MAX_WAIT_MS`), gathering the calls that arrive meanwhile: under load each statement
 * carries the reads of a round trip, not of one turn, and a statement costs billing far more than
 * a wallet in it. The statement starts after every call in it arrived, so each sees every commit
 * made before it asked; a wallet asked for twice is read once, and each wallet with its holds
 * comes from the statement's one snapshot. A missing wallet reads as an empty one without an
 * account. When a statement of several wallets fails, each wallet is read again in a statement of
 * its own, so a failure reaches only the callers of the wallet that fails alone.
 */
export function walletReader(sql: Sql) {
  let waiting: Map<string, Wanted> | undefined;
  let inFlight = 0;

  async function statement(wanted: readonly Wanted[]): Promise<Map<string, WalletSnapshot>> {
    const rows = await sql<WalletHoldRow[]>`
      select a.owner_id as wallet_owner, a.currency as wallet_currency, a.id as wallet_id, a.balance,
        a.frozen_at is not null as frozen, h.*, h.id as hold_id
      from billing.accounts a
      left join billing.holds h on h.account_id = a.id and h.status = 'open'
      where a.kind = 'wallet' and (a.owner_id, a.currency) in (
        select * from unnest(${array(wanted.map((w) => w.userId))}::text[], ${array(wanted.map((w) => w.currency))}::text[]))`;
    const accounts = new Map<string, WalletRow>();
    const holds: WalletHoldRow[] = [];
    for (const row of rows) {
      if (!accounts.has(row.wallet_id))
        accounts.set(row.wallet_id, {
          id: row.wallet_id,
          owner_id: row.wallet_owner,
          currency: row.wallet_currency,
          balance: row.balance,
          frozen: row.frozen,
        });
      if (row.hold_id !== null) holds.push(row);
    }
    const wallets = new Map<string, WalletSnapshot>();
    for (const snapshot of walletSnapshots([...accounts.values()], holds))
      wallets.set(keyOf(snapshot.userId, snapshot.currency), snapshot);
    return wallets;
  }

  const answer = (wanted: Wanted, wallets: Map<string, WalletSnapshot>) => {
    const wallet = wallets.get(keyOf(wanted.userId, wanted.currency)) ?? {
      accountId: undefined,
      userId: wanted.userId,
      currency: wanted.currency,
      balance: 0n,
      holds: [],
    };
    for (const caller of wanted.callers) caller.resolve(wallet);
  };

  async function read(batch: Map<string, Wanted>): Promise<void> {
    const wanted = [...batch.values()];
    try {
      const wallets = await statement(wanted);
      for (const each of wanted) answer(each, wallets);
    } catch (error) {
      if (wanted.length === 1) {
        for (const caller of wanted[0]!.callers) caller.reject(error);
        return;
      }
      await Promise.all(wanted.map((each) => read(new Map([[keyOf(each.userId, each.currency), each]]))));
    }
  }

  /** Sends the batch unless it has gone already; when its statement answers, the next one goes. */
  const send = (batch: Map<string, Wanted>) => {
    if (waiting !== batch) return;
    waiting = undefined;
    inFlight++;
    void read(batch).finally(() => {
      inFlight--;
      if (waiting && inFlight === 0) send(waiting);
    });
  };

  return (userId: string, currency: string): Promise<WalletSnapshot> =>
    new Promise((resolve, reject) => {
      let batch = waiting;
      if (!batch) {
        const started = new Map<string, Wanted>();
        setImmediate(() => {
          if (inFlight === 0) send(started);
          else setTimeout(() => send(started), WALLET_READ_MAX_WAIT_MS);
        });
        waiting = batch = started;
      }
      const key = keyOf(userId, currency);
      let wanted = batch.get(key);
      if (!wanted) {
        wanted = { userId, currency, callers: [] };
        batch.set(key, wanted);
      }
      wanted.callers.push({ resolve, reject });
    });
}
