import { failedPrecondition, notFound } from "@parley/kit/errors";
import type {
  KycStatus,
  Payout,
  PayoutAccount,
  PayoutDetails,
  PayoutMethod,
  PayoutPlan,
  PayoutStatus,
} from "../domain/payouts";
import type { PayoutSnapshot, PayoutStore } from "../domain/ports";
import { idempotent, postingWrites } from "./ledger";
import type { Sealer } from "./sealing";
import { claimDue, type PlatformAccounts, pipelined, type Sql, type Tx } from "./sql";

interface AccountRow {
  expert_user_id: string;
  method: PayoutMethod;
  holder_name: string;
  sealed_details: Buffer;
  masked: string;
  kyc_status: KycStatus;
  kyc_reason: string | null;
  updated_at: Date;
}

interface PayoutRow {
  id: string;
  expert_user_id: string;
  currency: string;
  amount: bigint;
  tds: bigint;
  net: bigint;
  status: PayoutStatus;
  provider_payout_id: string | null;
  failure_reason: string | null;
  automatic: boolean;
  attempt: number;
  created_at: Date;
  updated_at: Date;
}

const toAccount = (row: AccountRow): PayoutAccount => ({
  expertUserId: row.expert_user_id,
  method: row.method,
  holderName: row.holder_name,
  masked: row.masked,
  kycStatus: row.kyc_status,
  kycReason: row.kyc_reason ?? "",
  updatedAt: row.updated_at,
});

const toPayout = (row: PayoutRow): Payout => ({
  payoutId: row.id,
  expertUserId: row.expert_user_id,
  currency: row.currency,
  amount: row.amount,
  tds: row.tds,
  net: row.net,
  status: row.status,
  providerPayoutId: row.provider_payout_id ?? "",
  failureReason: row.failure_reason ?? "",
  automatic: row.automatic,
  attempt: row.attempt,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * The payout account, the expert's wallets share-locked, then the earnings row locked: what a
 * withdrawal plans against. Wallets before earnings, the order every money move keeps (a charge
 * locks its payer's wallet, then adds to its payee's earnings): the other way round, a
 * withdrawal and a charge batch in which the expert both pays and earns deadlocked.
 */
async function snapshotOf(tx: Tx, expertUserId: string, currency: string): Promise<PayoutSnapshot> {
  const [account] = await tx<AccountRow[]>`
    select * from billing.payout_accounts where expert_user_id = ${expertUserId}`;
  // Shared-locked, so a freeze in progress is waited for: a freeze committed before this
  // withdrawal or retry stops it, and none commits until it is done.
  const [wallets] = await tx<{ frozen: boolean }[]>`
    select coalesce(bool_or(frozen), false) as frozen from (
      select frozen_at is not null as frozen from billing.accounts
      where kind = 'wallet' and owner_id = ${expertUserId} order by id for share) w`;
  const [earnings] = await tx<{ balance: bigint }[]>`
    select balance from billing.accounts
    where kind = 'earnings' and owner_id = ${expertUserId} and currency = ${currency}
    for update`;
  return {
    account: account && toAccount(account),
    earnings: earnings?.balance ?? 0n,
    frozen: wallets?.frozen ?? false,
  };
}

/** Writes a plan: its postings, and the payout row inserted or updated. */
async function applyPlan(tx: Tx, plan: PayoutPlan, at: Date, platform: PlatformAccounts) {
  const p = plan.payout;
  const results = await pipelined([
    ...(await postingWrites(tx, plan.postings, at, platform)),
    tx<PayoutRow[]>`
      insert into billing.payouts (id, expert_user_id, currency, amount, tds, net, status, provider_payout_id,
        failure_reason, automatic, attempt, created_at, updated_at)
      values (${p.payoutId}, ${p.expertUserId}, ${p.currency}, ${p.amount}, ${p.tds}, ${p.net}, ${p.status},
        ${p.providerPayoutId || null}, ${p.failureReason || null}, ${p.automatic}, ${p.attempt}, ${p.createdAt},
        ${p.updatedAt})
      on conflict (id) do update set status = excluded.status, provider_payout_id = excluded.provider_payout_id,
        failure_reason = excluded.failure_reason, attempt = excluded.attempt, updated_at = excluded.updated_at
      returning *`,
  ]);
  return toPayout((results.at(-1) as PayoutRow[])[0]!);
}

/**
 * Copies the payout account, as verified, onto the payout just taken (or retried) in `tx`: one
 * statement, so details changed meanwhile (KYC back to pending) are never where it goes.
 */
async function bindVerifiedAccount(tx: Tx, payout: Payout) {
  const [bound] = await tx`
    update billing.payouts p set method = a.method, holder_name = a.holder_name, sealed_details = a.sealed_details
    from billing.payout_accounts a
    where p.id = ${payout.payoutId} and a.expert_user_id = p.expert_user_id and a.kyc_status = 'verified'
    returning p.id`;
  if (!bound) {
    const [account] = await tx<{ kyc_status: KycStatus }[]>`
      select kyc_status from billing.payout_accounts where expert_user_id = ${payout.expertUserId}`;
    const kycStatus = account?.kyc_status ?? "pending";
    throw failedPrecondition("KYC_NOT_VERIFIED", `the payout account changed; its KYC is ${kycStatus}`, {
      metadata: { kyc_status: kycStatus },
    });
  }
  return payout;
}

/** Payout accounts (details sealed) and payouts with their ledger moves. */
export function createPayoutStore(sql: Sql, platform: PlatformAccounts, sealer: Sealer): PayoutStore {
  const lockPayout = async (tx: Tx, where: { payoutId: string; providerPayoutId: string }) => {
    const [row] = where.payoutId
      ? await tx<PayoutRow[]>`select * from billing.payouts where id = ${where.payoutId} for update`
      : await tx<PayoutRow[]>`
          select * from billing.payouts where provider_payout_id = ${where.providerPayoutId} for update`;
    if (!row) throw notFound("PAYOUT_NOT_FOUND", "no payout matches");
    return toPayout(row);
  };
  return {
    async setAccount(account, details) {
      const sealed = sealer.seal(JSON.stringify(details), account.expertUserId);
      const [row] = await sql<AccountRow[]>`
        insert into billing.payout_accounts (expert_user_id, method, holder_name, sealed_details, masked, kyc_status,
          kyc_reason, created_at, updated_at)
        values (${account.expertUserId}, ${account.method}, ${account.holderName}, ${sealed}, ${account.masked},
          ${account.kycStatus}, null, ${account.updatedAt}, ${account.updatedAt})
        on conflict (expert_user_id) do update set method = excluded.method, holder_name = excluded.holder_name,
          sealed_details = excluded.sealed_details, masked = excluded.masked, kyc_status = excluded.kyc_status,
          kyc_reason = null, updated_at = excluded.updated_at
        returning *`;
      return toAccount(row!);
    },

    async getAccount(expertUserId) {
      const [row] = await sql<AccountRow[]>`
        select * from billing.payout_accounts where expert_user_id = ${expertUserId}`;
      return row && toAccount(row);
    },

    async destination({ payoutId, expertUserId }) {
      type Destination = Pick<AccountRow, "method" | "holder_name" | "sealed_details">;
      const [kept] = await sql<Destination[]>`
        select method, holder_name, sealed_details from billing.payouts
        where id = ${payoutId} and sealed_details is not null`;
      // A payout from before payouts kept one is bound now, to the account if it is verified.
      const [row] = kept
        ? [kept]
        : await sql<Destination[]>`
            update billing.payouts p set method = a.method, holder_name = a.holder_name,
              sealed_details = a.sealed_details
            from billing.payout_accounts a
            where p.id = ${payoutId} and p.status = 'processing' and p.sealed_details is null
              and a.expert_user_id = p.expert_user_id and a.kyc_status = 'verified'
            returning p.method, p.holder_name, p.sealed_details`;
      return (
        row && {
          method: row.method,
          holderName: row.holder_name,
          details: JSON.parse(sealer.open(row.sealed_details, expertUserId)) as PayoutDetails,
        }
      );
    },

    async setKyc({ expertUserId, status, reason, now, validatedAt }) {
      // A validation's time is in whole seconds: one made in the second the account changed counts.
      const [row] = await sql<AccountRow[]>`
        update billing.payout_accounts set kyc_status = ${status}, kyc_reason = ${reason || null}, updated_at = ${now}
        where expert_user_id = ${expertUserId}
          and (${validatedAt ?? null}::timestamptz is null
            or updated_at < ${validatedAt ?? null}::timestamptz + interval '1 second')
        returning *`;
      return row && toAccount(row);
    },

    async withdraw(key, target, plan) {
      return (await sql.begin((tx) =>
        idempotent(tx, key, async () =>
          bindVerifiedAccount(
            tx,
            await applyPlan(
              tx,
              plan(await snapshotOf(tx, target.expertUserId, target.currency)),
              target.now,
              platform,
            ),
          ),
        ),
      )) as Payout;
    },

    async retry(payoutId, now, plan) {
      return (await sql.begin(async (tx) => {
        const payout = await lockPayout(tx, { payoutId, providerPayoutId: "" });
        return bindVerifiedAccount(
          tx,
          await applyPlan(
            tx,
            plan(payout, await snapshotOf(tx, payout.expertUserId, payout.currency)),
            now,
            platform,
          ),
        );
      })) as Payout;
    },

    async sent({ payoutId, attempt }, providerPayoutId, now) {
      const [row] = await sql<PayoutRow[]>`
        with recorded as (
          update billing.payouts set provider_payout_id = ${providerPayoutId}, updated_at = ${now}
          where id = ${payoutId} and attempt = ${attempt} and provider_payout_id is null
          returning *)
        select * from recorded
        union all
        select * from billing.payouts where id = ${payoutId} and not exists (select 1 from recorded)`;
      return toPayout(row!);
    },

    async settle(target, plan) {
      return (await sql.begin(async (tx) => {
        const payout = await lockPayout(tx, target);
        const decided = plan(payout);
        if (!decided) return { payout, changed: false };
        return { payout: await applyPlan(tx, decided, target.now, platform), changed: true };
      })) as { payout: Payout; changed: boolean };
    },

    async get(payoutId) {
      const [row] = await sql<PayoutRow[]>`select * from billing.payouts where id = ${payoutId}`;
      return row && toPayout(row);
    },

    /**
     * One statement per filter given (each prepared and planned apart), so an expert's payouts
     * come through payouts_expert_newest and one status's through payouts_status_newest: an
     * "is null or" filter would plan every listing as a walk down every payout.
     */
    async list({ expertUserId, status, beforePayoutId, limit }) {
      const rows = await sql<PayoutRow[]>`
        select * from billing.payouts
        where id < ${beforePayoutId ?? "ffffffff-ffff-ffff-ffff-ffffffffffff"}
          ${expertUserId === undefined ? sql`` : sql`and expert_user_id = ${expertUserId}`}
          ${status === undefined ? sql`` : sql`and status = ${status}`}
        order by id desc limit ${limit}`;
      return rows.map(toPayout);
    },

    async pendingTotal(expertUserId, currency) {
      const [row] = await sql<{ total: bigint }[]>`
        select coalesce(sum(amount), 0)::int8 as total from billing.payouts
        where expert_user_id = ${expertUserId} and currency = ${currency} and status = 'processing'`;
      return row!.total;
    },

    async claimDue(claim) {
      const rows = await claimDue<PayoutRow>(sql, "payouts", claim);
      return rows.map(toPayout);
    },

    async dueAutomatic({ currency, threshold, since, limit }) {
      const rows = await sql<{ owner_id: string; balance: bigint }[]>`
        select a.owner_id, a.balance from billing.payout_accounts p
        join billing.accounts a on a.kind = 'earnings' and a.owner_id = p.expert_user_id and a.currency = ${currency}
        where p.kyc_status = 'verified' and a.balance >= ${threshold}
          and not exists (
            select 1 from billing.accounts w
            where w.kind = 'wallet' and w.owner_id = p.expert_user_id and w.frozen_at is not null)
          and not exists (
            select 1 from billing.payouts o
            where o.expert_user_id = p.expert_user_id and o.currency = ${currency} and o.automatic
              and o.created_at >= ${since})
        order by a.owner_id limit ${limit}`;
      return rows.map((row) => ({ expertUserId: row.owner_id, earnings: row.balance }));
    },
  };
}
