import { addressKey } from "@parley/kit/addresses";
import type { PersonRole, Principal } from "@parley/kit/auth";
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  unauthenticated,
} from "@parley/kit/errors";
import { newId, requireUuid } from "@parley/kit/ids";
import { guardAttempts } from "./attempts";
import type { AuditEvent } from "./audit";
import type { Mfa } from "./mfa";
import { type Account, type ClientInfo, type MfaChallenge, securityNotice, type TokenPair } from "./model";
import {
  checkPasswordPolicy,
  decoyPasswordHash,
  hashPassword,
  passwordHasher,
  verifyPassword,
} from "./passwords";
import type { AuthPolicy } from "./policy";
import type { AttemptLimiter, AuthStore, ProfileDirectory } from "./ports";
import { randomToken, type Secrets } from "./secrets";
import type { Sessions } from "./sessions";
import { assertUsable } from "./status";
import { checkEmail, checkPhone, parseIdentifier } from "./validation";

export interface AccountDeps {
  store: AuthStore;
  secrets: Secrets;
  limiter: AttemptLimiter;
  policy: AuthPolicy;
  sessions: Sessions;
  mfa: Mfa;
  now: () => Date;
  /** The user service, for a new account's profile at once (the outbox guarantees it anyway). */
  profiles?: ProfileDirectory;
}

/** How long registration waits for the user service before leaving the profile to the outbox. */
const PROFILE_WAIT_MS = 2_000;

const invalidCredentials = () => unauthenticated("INVALID_CREDENTIALS", "the credentials are not valid");
/** Sign-in attempts of one account, whichever identifier (or second factor) they came through. */
const accountLockKey = (accountId: string) => `login:acct:${accountId}`;

/** Registration, password and MFA logins, password change and reset, roles. */
export function createAccounts(deps: AccountDeps) {
  const { store, secrets, limiter, policy, sessions, mfa, now } = deps;
  const window = policy.attemptWindowSeconds;
  const accountCounter = (accountId: string) => ({
    key: accountLockKey(accountId),
    limit: policy.accountAttemptLimit,
    windowSeconds: window,
  });

  const person = (principal: Principal) => {
    if (principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "only people have a password");
    return principal;
  };

  const account = async (id: string) => {
    const found = await store.findAccount(id);
    if (!found) throw notFound("ACCOUNT_NOT_FOUND", "no such account");
    return found;
  };

  return {
    async register(input: {
      email: string;
      phone: string;
      password: string;
      displayName: string;
      client: ClientInfo;
    }): Promise<{ account: Account; tokens: TokenPair }> {
      if (!input.email && !input.phone)
        throw invalidArgument("VALIDATION_FAILED", "an email or a phone number is required", {
          fieldViolations: [{ field: "email", description: "email or phone is required" }],
        });
      const email = input.email ? checkEmail(input.email) : null;
      const phone = input.phone ? checkPhone(input.phone) : null;
      checkPasswordPolicy(input.password);
      await guardAttempts(limiter, [
        { key: `register:ip:${addressKey(input.client.ipAddress)}`, limit: 20, windowSeconds: 3600 },
      ]);
      const created: Account = {
        id: newId(),
        email,
        phone,
        passwordHash: await hashPassword(input.password),
        role: "user",
        status: "active",
        partnerId: null,
        totpSecretSealed: null,
        totpEnabled: false,
        createdAt: now(),
      };
      const profile = {
        userId: created.id,
        displayName: input.displayName.trim().slice(0, 80),
        email: email ?? "",
        phone: phone ?? "",
      };
      const inserted = await store.insertAccount(created, [{ kind: "profile.ensure", payload: profile }]);
      if (!inserted)
        throw alreadyExists("ACCOUNT_EXISTS", "an account with this email or phone already exists");
      // The outbox row (same transaction) guarantees the profile; making it now as well means the
      // person's first read already shows the name they chose. A failure here only leaves it to
      // the outbox, so it is not the caller's error.
      await deps.profiles?.ensureProfile(profile, { waitMs: PROFILE_WAIT_MS }).catch(() => undefined);
      return { account: created, tokens: await sessions.start(created, "aal1", input.client) };
    },

    /**
     * Every attempt is counted per identifier, per IP and per account before the password is
     * checked; an unknown identifier is counted under an account key of its own and checked
     * against a decoy hash, so the answer and its timing are the same whether or not the
     * account exists.
     */
    async login(input: {
      identifier: string;
      password: string;
      client: ClientInfo;
    }): Promise<{ tokens: TokenPair } | { challenge: MfaChallenge }> {
      const identifier = parseIdentifier(input.identifier);
      const identifierKey = `login:id:${identifier.key}`;
      // A login the hashing queue would refuse is refused before it counts as an attempt (and
      // before it costs a lookup).
      passwordHasher.assertCapacity();
      // The account is looked up before anything is counted, so that its counter goes in the
      // same call as the identifier's and the IP's: one round trip to the counters, not two.
      const found = await store.findAccountByIdentifier(identifier);
      // Counted per account too, so an account's email and phone share one lock; an unknown
      // identifier is counted the same way, so the work done does not tell the two apart.
      await guardAttempts(limiter, [
        { key: identifierKey, limit: policy.accountAttemptLimit, windowSeconds: window },
        {
          key: `login:ip:${addressKey(input.client.ipAddress)}`,
          limit: policy.ipAttemptLimit,
          windowSeconds: window,
        },
        accountCounter(found?.id ?? `unknown:${identifier.key}`),
      ]);
      const passwordOk = await verifyPassword(
        found?.passwordHash ?? (await decoyPasswordHash),
        input.password,
      );
      if (!found?.passwordHash || !passwordOk || found.status === "deleted") throw invalidCredentials();
      assertUsable(found);
      // Codes are counted on their own (mfa), so a right password buys no fresh guesses at them.
      const resetCounters = [identifierKey, accountLockKey(found.id)];
      if (!found.totpEnabled) {
        // Postgres's counters are reset in the session's own statement (one round trip less).
        const [tokens] = await Promise.all([
          sessions.start(found, "aal1", input.client, undefined, { resetCounters }),
          limiter.resetOutsidePostgres(resetCounters),
        ]);
        return { tokens };
      }
      await limiter.reset(resetCounters);
      const challengeToken = randomToken(32);
      const expiresAt = new Date(now().getTime() + policy.mfaChallengeSeconds * 1000);
      await store.insertMfaChallenge({
        id: newId(),
        tokenHash: secrets.digest(challengeToken),
        accountId: found.id,
        deviceName: input.client.deviceName,
        ipAddress: input.client.ipAddress,
        userAgent: input.client.userAgent,
        expiresAt,
      });
      return { challenge: { challengeToken, methods: ["totp", "backup_code"], expiresAt } };
    },

    async completeMfaLogin(challengeToken: string, code: string): Promise<TokenPair> {
      const challenge = await store.findMfaChallenge(secrets.digests(challengeToken), now());
      if (!challenge)
        throw unauthenticated("MFA_CHALLENGE_INVALID", "the challenge is unknown, used or expired");
      const found = await account(challenge.accountId);
      await guardAttempts(limiter, [accountCounter(found.id)]);
      if (!(await mfa.verifySecondFactor(found, code))) throw invalidCredentials();
      if (!(await store.useMfaChallenge(challenge.id, now())))
        throw unauthenticated("MFA_CHALLENGE_INVALID", "the challenge is unknown, used or expired");
      const resetCounters = [accountLockKey(found.id)];
      const [tokens] = await Promise.all([
        sessions.start(found, "aal2", challenge, undefined, { resetCounters }),
        limiter.resetOutsidePostgres(resetCounters),
      ]);
      return tokens;
    },

    async changePassword(
      principal: Principal,
      currentPassword: string,
      newPassword: string,
    ): Promise<number> {
      const caller = person(principal);
      await guardAttempts(limiter, [
        { key: `password:acct:${caller.userId}`, limit: policy.accountAttemptLimit, windowSeconds: window },
      ]);
      const found = await account(caller.userId);
      if (!found.passwordHash || !(await verifyPassword(found.passwordHash, currentPassword)))
        throw invalidCredentials();
      checkPasswordPolicy(newPassword, "new_password");
      await store.setPassword(found.id, await hashPassword(newPassword), now(), [
        securityNotice(found.id, "password_changed"),
      ]);
      await limiter.reset([`password:acct:${caller.userId}`]);
      return store.revokeSessions(found.id, caller.sessionId, "password_changed", now());
    },

    /**
     * Throttled like login; says nothing about whether the account exists, in its answer or
     * its timing: either way one outbox write, a reset link or a no-account notice.
     */
    async requestPasswordReset(identifierText: string, client: ClientInfo): Promise<void> {
      const identifier = parseIdentifier(identifierText);
      await guardAttempts(limiter, [
        { key: `reset:id:${identifier.key}`, limit: policy.accountAttemptLimit, windowSeconds: 3600 },
        {
          key: `reset:ip:${addressKey(client.ipAddress)}`,
          limit: policy.ipAttemptLimit,
          windowSeconds: 3600,
        },
      ]);
      const found = await store.findAccountByIdentifier(identifier);
      const channel = identifier.phone ? "sms" : "email";
      if (!found?.passwordHash) {
        await store.enqueueOutbox([
          {
            kind: "notify.no_account",
            payload: { channel, to: identifier.key, acceptLanguage: client.acceptLanguage },
          },
        ]);
        return;
      }
      const token = randomToken(32);
      const createdAt = now();
      const expiresAt = new Date(createdAt.getTime() + policy.resetTokenMinutes * 60_000);
      await store.insertPasswordReset(
        { id: newId(), tokenHash: secrets.digest(token), accountId: found.id, createdAt, expiresAt },
        {
          kind: "notify.password_reset",
          payload: {
            channel,
            to: identifier.key,
            token,
            expiresAt: expiresAt.toISOString(),
            userId: found.id,
            acceptLanguage: client.acceptLanguage,
          },
        },
      );
    },

    async resetPassword(input: {
      resetToken: string;
      newPassword: string;
      mfaCode: string;
      client: ClientInfo;
    }) {
      await guardAttempts(limiter, [
        {
          key: `reset:ip:${addressKey(input.client.ipAddress)}`,
          limit: policy.ipAttemptLimit,
          windowSeconds: 3600,
        },
      ]);
      const reset = await store.findPasswordReset(secrets.digests(input.resetToken), now());
      if (!reset) throw unauthenticated("RESET_TOKEN_INVALID", "the reset token is unknown, used or expired");
      checkPasswordPolicy(input.newPassword, "new_password");
      const found = await account(reset.accountId);
      if (found.totpEnabled) {
        if (!input.mfaCode)
          throw failedPrecondition("MFA_CODE_REQUIRED", "this account has TOTP: send a TOTP or backup code");
        if (!(await mfa.verifySecondFactor(found, input.mfaCode))) throw invalidCredentials();
      }
      const done = await store.completePasswordReset(
        reset.id,
        found.id,
        await hashPassword(input.newPassword),
        now(),
        [securityNotice(found.id, "password_changed")],
      );
      if (!done) throw unauthenticated("RESET_TOKEN_INVALID", "the reset token is unknown, used or expired");
    },

    /** Sets a role; `record` makes the audit event of the change (in its transaction). */
    async setRole(
      userId: string,
      role: PersonRole,
      record?: (before: PersonRole) => AuditEvent,
    ): Promise<Account> {
      const id = requireUuid(userId, "user_id");
      const outcome = await store.setRole(id, role, now(), record);
      if (outcome === "not_found") throw notFound("ACCOUNT_NOT_FOUND", "no such account");
      if (outcome === "last_admin") throw failedPrecondition("LAST_ADMIN", "the last admin cannot step down");
      return account(id);
    },

    /**
     * The operator's first admin (BOOTSTRAP_ADMIN_*), created when no account has that email.
     * An account that already holds the email is left as it is: registration does not prove
     * who owns an address, so promoting it could hand admin to whoever registered it first,
     * and an admin demoted since must stay demoted across restarts.
     */
    async bootstrapAdmin(email: string, password: string) {
      checkPasswordPolicy(password, "BOOTSTRAP_ADMIN_PASSWORD");
      return store.insertBootstrapAdmin({
        id: newId(),
        email: checkEmail(email, "BOOTSTRAP_ADMIN_EMAIL"),
        phone: null,
        passwordHash: await hashPassword(password),
        role: "admin",
        status: "active",
        partnerId: null,
        totpSecretSealed: null,
        totpEnabled: false,
        createdAt: now(),
      });
    },

    account,
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
