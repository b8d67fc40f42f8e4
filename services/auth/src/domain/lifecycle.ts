import { randomInt } from "node:crypto";
import type { Principal } from "@parley/kit/auth";
import {
  failedPrecondition,
  invalidArgument,
  permissionDenied,
  resourceExhausted,
  unauthenticated,
} from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { inParallel } from "@parley/kit/parallel";
import { guardAttempts } from "./attempts";
import type { Mfa } from "./mfa";
import { verifyPassword } from "./passwords";
import type { AuthPolicy } from "./policy";
import type { AccountStore, AttemptLimiter, DataSources, DeletionChecks, LoginSessionStore } from "./ports";
import type { Secrets } from "./secrets";

/** How recent a sign-in proves presence for an account without a password (a partner's). */
const FRESH_SIGN_IN_MS = 10 * 60_000;

const invalidCredentials = () => unauthenticated("INVALID_CREDENTIALS", "the credentials are not valid");

function person(principal: Principal) {
  if (principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "only a person has an account");
  return principal;
}

/** How long a contact verification code lives, and how many wrong guesses spend it. */
const CODE_MINUTES = 10;
const CODE_ATTEMPTS = 5;
/** Codes one account may have sent per channel per hour. */
const CODES_PER_HOUR = 5;
/** Exports one account may ask for per hour: each reads everything they have. */
const EXPORTS_PER_HOUR = 10;
/** Sessions whose messages an export reads at once. */
const EXPORT_SESSIONS_AT_ONCE = 4;

const mask = (address: string) =>
  address.includes("@")
    ? address.replace(/^(.)[^@]*(@.*)$/, "$1***$2")
    : `${address.slice(0, 3)}${"*".repeat(Math.max(0, address.length - 5))}${address.slice(-2)}`;

/** A person's own account lifecycle: contact verification, deletion and the export of their data. */
export function createLifecycle(deps: {
  store: AccountStore & Pick<LoginSessionStore, "findSession">;
  secrets: Secrets;
  mfa: Mfa;
  limiter: AttemptLimiter;
  policy: AuthPolicy;
  checks: DeletionChecks;
  sources: DataSources;
  now: () => Date;
}) {
  const { store, now } = deps;
  const codeHash = (id: string, code: string) => deps.secrets.digest(`contact:${id}:${code}`);
  /** Whether `code` is the one digested as `stored`, under any secret of the ring. */
  const codeMatches = (stored: string, id: string, code: string) =>
    deps.secrets.digests(`contact:${id}:${code}`).includes(stored);
  return {
    /**
     * Sends a one-time code to the account's email or phone (by SMS), a few per hour at most, in
     * the locale the person chose, else the language of the app asking (`acceptLanguage`).
     */
    async requestVerification(
      principal: Principal,
      channel: "email" | "phone",
      acceptLanguage = "",
    ): Promise<string> {
      const caller = person(principal);
      const account = await store.findAccount(caller.userId);
      if (!account) throw invalidCredentials();
      const address = channel === "email" ? account.email : account.phone;
      if (!address) throw failedPrecondition("NO_CONTACT", `the account has no ${channel}`);
      if (channel === "email" ? account.emailVerifiedAt : account.phoneVerifiedAt)
        throw failedPrecondition("ALREADY_VERIFIED", `the ${channel} is already verified`);
      await guardAttempts(deps.limiter, [
        { key: `verify:send:${account.id}:${channel}`, limit: CODES_PER_HOUR, windowSeconds: 3600 },
      ]);
      const id = newId();
      const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
      const at = now();
      await store.insertVerification(
        {
          id,
          accountId: account.id,
          channel,
          address,
          codeHash: codeHash(id, code),
          createdAt: at,
          expiresAt: new Date(at.getTime() + CODE_MINUTES * 60_000),
        },
        {
          kind: "verify.send",
          payload: {
            userId: account.id,
            address,
            sms: channel === "phone",
            code,
            validMinutes: CODE_MINUTES,
            acceptLanguage,
          },
        },
      );
      return mask(address);
    },

    /** Checks a code: right, the address is verified; wrong, one of its 5 guesses is spent. */
    async verifyContact(principal: Principal, channel: "email" | "phone", code: string) {
      const caller = person(principal);
      const given = code.trim();
      if (!/^\d{6}$/.test(given))
        throw invalidArgument("VALIDATION_FAILED", "code must be 6 digits", {
          fieldViolations: [{ field: "code", description: "must be 6 digits" }],
        });
      const result = await store.attemptVerification(caller.userId, channel, now(), CODE_ATTEMPTS, (row) =>
        codeMatches(row.codeHash, row.id, given),
      );
      if (result.outcome === "none")
        throw failedPrecondition("VERIFICATION_NOT_REQUESTED", "no code is outstanding; ask for a new one");
      if (result.outcome === "wrong") {
        if (result.attemptsLeft === 0)
          throw resourceExhausted(
            "TOO_MANY_ATTEMPTS",
            "too many wrong codes: this one is spent, ask for a new one",
          );
        throw invalidArgument("CODE_INVALID", "the code is not right", {
          metadata: { attempts_left: String(result.attemptsLeft) },
        });
      }
      const account = await store.findAccount(caller.userId);
      if (!account) throw invalidCredentials();
      return account;
    },

    /**
     * Deletes the caller's account after proof of presence and the checks (no open session, no
     * money in motion); everything that identifies or reaches the person goes, the ledger stays.
     */
    async deleteAccount(
      principal: Principal,
      bearerToken: string,
      input: { password: string; mfaCode: string },
    ) {
      const caller = person(principal);
      await guardAttempts(deps.limiter, [
        {
          key: `delete:acct:${caller.userId}`,
          limit: deps.policy.accountAttemptLimit,
          windowSeconds: deps.policy.attemptWindowSeconds,
        },
      ]);
      const account = await store.findAccount(caller.userId);
      if (account?.status !== "active") throw invalidCredentials();
      if (account.passwordHash) {
        if (!input.password || !(await verifyPassword(account.passwordHash, input.password)))
          throw invalidCredentials();
      } else {
        const session = await store.findSession(caller.sessionId);
        if (!session || now().getTime() - session.createdAt.getTime() > FRESH_SIGN_IN_MS)
          throw unauthenticated(
            "REAUTHENTICATION_REQUIRED",
            "sign in again (within 10 minutes) to delete the account",
          );
      }
      if (account.totpEnabled) {
        if (!input.mfaCode)
          throw failedPrecondition("MFA_CODE_REQUIRED", "a TOTP or backup code is required");
        if (!(await deps.mfa.verifySecondFactor(account, input.mfaCode))) throw invalidCredentials();
      }
      const open = await deps.checks.openSession(bearerToken);
      if (open)
        throw failedPrecondition("SESSION_ACTIVE", "finish or cancel your open session first", {
          metadata: { session_id: open },
        });
      const pending = await deps.checks.pendingMoney(account.id);
      if (pending.openHolds + pending.pendingPayments + pending.payoutsInFlight > 0)
        throw failedPrecondition(
          "MONEY_PENDING",
          "money is still moving (a top-up, a hold or a withdrawal); try again once it settles",
          {
            metadata: {
              open_holds: String(pending.openHolds),
              pending_payments: String(pending.pendingPayments),
              payouts_in_flight: String(pending.payoutsInFlight),
            },
          },
        );
      const changed = await store.changeAccountStatus({
        accountId: account.id,
        from: ["active"],
        to: "deleted",
        at: now(),
        revoke: "account_deleted",
        erase: true,
        messages: [
          { kind: "profile.status", payload: { userId: account.id, status: "deleted" } },
          { kind: "sessions.forget_author", payload: { userId: account.id } },
        ],
      });
      if (changed.outcome === "last_admin")
        throw failedPrecondition("LAST_ADMIN", "the last active admin cannot delete their account");
      if (changed.outcome !== "ok") throw invalidCredentials();
    },

    /** The caller's data, from each service with their own token: theirs and nobody else's. */
    async exportData(principal: Principal, bearerToken: string): Promise<Record<string, unknown>> {
      const caller = person(principal);
      const account = await store.findAccount(caller.userId);
      if (!account) throw invalidCredentials();
      await guardAttempts(deps.limiter, [
        { key: `export:acct:${account.id}`, limit: EXPORTS_PER_HOUR, windowSeconds: 3600 },
      ]);
      const { sources } = deps;
      const [profile, sessions, wallet, transactions, invoices] = await Promise.all([
        sources.profile(bearerToken),
        sources.sessions(bearerToken),
        sources.wallet(bearerToken),
        sources.transactions(bearerToken),
        sources.invoices(bearerToken),
      ]);
      const sent = await inParallel(sessions.items, EXPORT_SESSIONS_AT_ONCE, (s) =>
        sources.messagesSent(bearerToken, s.sessionId, account.id),
      );
      // Lists cut at the readers' page limit are named, not passed off as whole.
      const incomplete = Object.entries({
        sessions: [sessions],
        transactions: [transactions],
        invoices: [invoices],
        messages: sent,
      })
        .filter(([, listings]) => listings.some((listing) => !listing.complete))
        .map(([name]) => name);
      return {
        format: "parley-export/1",
        exportedAt: now().toISOString(),
        account: {
          userId: account.id,
          email: account.email,
          phone: account.phone,
          role: account.role,
          mfaEnabled: account.totpEnabled,
          createdAt: account.createdAt.toISOString(),
        },
        profile,
        wallet,
        transactions: transactions.items,
        invoices: invoices.items,
        sessions: sessions.items,
        messages: sent.flatMap((listing) => listing.items),
        incomplete,
      };
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
