import type { Principal } from "@parley/kit/auth";
import { failedPrecondition, notFound, permissionDenied, unauthenticated } from "@parley/kit/errors";
import { Secret, TOTP } from "otpauth";
import { guardAttempts } from "./attempts";
import { type Account, securityNotice } from "./model";
import { verifyPassword } from "./passwords";
import type { AuthPolicy } from "./policy";
import type { AccountStore, AttemptLimiter, MfaStore } from "./ports";
import { randomToken, type Secrets } from "./secrets";

export interface MfaDeps {
  store: MfaStore & Pick<AccountStore, "findAccount">;
  secrets: Secrets;
  limiter: AttemptLimiter;
  policy: AuthPolicy;
  now: () => Date;
  /** Shown as the issuer in authenticator apps. */
  totpIssuer: string;
}

const PERIOD_SECONDS = 30;
const BACKUP_CODE_COUNT = 10;

const totpFor = (secret: Secret, label: string, issuer: string) =>
  new TOTP({ issuer, label, secret, algorithm: "SHA1", digits: 6, period: PERIOD_SECONDS });

/** 10 characters of Crockford-style base32 (50 bits), shown as xxxxx-xxxxx. */
function newBackupCode(): string {
  const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
  const bytes = Buffer.from(randomToken(16), "base64url");
  const chars = Array.from({ length: 10 }, (_, i) => alphabet[bytes[i]! % 32]);
  return `${chars.slice(0, 5).join("")}-${chars.slice(5).join("")}`;
}

const normaliseBackupCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, "");

/** TOTP (RFC 6238) and backup codes: enrolment, checks with replay protection, removal. */
export function createMfa(deps: MfaDeps) {
  const { store, secrets, now } = deps;

  const attempts = (accountId: string) =>
    guardAttempts(deps.limiter, [
      {
        key: `mfa:acct:${accountId}`,
        limit: deps.policy.accountAttemptLimit,
        windowSeconds: deps.policy.attemptWindowSeconds,
      },
    ]);

  /** The account's password, asked for again to turn TOTP on or off (none: never matches). */
  const passwordMatches = async (account: Account, password: string): Promise<boolean> =>
    account.passwordHash ? verifyPassword(account.passwordHash, password) : false;

  /** A current code, accepted once: its time step is recorded and never accepted again. */
  const checkTotp = async (account: Account, code: string): Promise<boolean> => {
    if (!account.totpSecretSealed || !/^\d{6}$/.test(code)) return false;
    const secret = Secret.fromBase32(secrets.unseal(account.totpSecretSealed));
    const timestamp = now().getTime();
    const delta = TOTP.validate({ token: code, secret, period: PERIOD_SECONDS, timestamp, window: 1 });
    if (delta === null) return false;
    const step = Math.floor(timestamp / 1000 / PERIOD_SECONDS) + delta;
    return store.acceptTotpStep(account.id, step);
  };

  const hashCodes = (codes: string[]) => codes.map((code) => secrets.digest(normaliseBackupCode(code)));

  const person = async (principal: Principal): Promise<Account> => {
    if (principal.kind !== "user")
      throw permissionDenied("PERMISSION_DENIED", "only people have a second factor");
    const account = await store.findAccount(principal.userId);
    if (!account) throw notFound("ACCOUNT_NOT_FOUND", "no such account");
    return account;
  };

  const requireEnabled = (account: Account) => {
    if (!account.totpEnabled)
      throw failedPrecondition("TOTP_NOT_ENABLED", "TOTP is not enabled on this account");
  };

  const mfa = {
    /** A TOTP code or a backup code, counted against the account's attempt limit. */
    async verifySecondFactor(account: Account, code: string): Promise<boolean> {
      await attempts(account.id);
      const trimmed = code.trim();
      const ok = /^\d{6}$/.test(trimmed)
        ? await checkTotp(account, trimmed)
        : await store.useBackupCode(account.id, secrets.digests(normaliseBackupCode(trimmed)), now());
      if (ok) await deps.limiter.reset([`mfa:acct:${account.id}`]);
      return ok;
    },

    /**
     * Reseals, under the current secret, up to `limit` TOTP secrets sealed under a previous one;
     * returns how many it resealed (0 when none is left).
     */
    async resealTotpSecrets(limit: number): Promise<number> {
      let resealed = 0;
      for (const { accountId, sealed } of await store.listTotpSecretsSealedOtherwise(
        secrets.currentPrefix,
        limit,
      ))
        if (await store.resealTotpSecret(accountId, sealed, secrets.seal(secrets.unseal(sealed)))) resealed++;
      return resealed;
    },

    async enroll(principal: Principal) {
      const account = await person(principal);
      if (account.totpEnabled) throw failedPrecondition("TOTP_ALREADY_ENABLED", "TOTP is already enabled");
      const secret = new Secret({ size: 20 });
      await store.setTotpSecret(account.id, secrets.seal(secret.base32));
      const label = account.email ?? account.phone ?? account.id;
      return { secret: secret.base32, otpauthUri: totpFor(secret, label, deps.totpIssuer).toString() };
    },

    /**
     * Turns TOTP on. The password is checked with the code: once on, TOTP guards login, password
     * reset and turning it off, so whoever holds only a stolen access token must not be able to
     * turn it on with an app of their own and lock the owner out.
     */
    async confirm(principal: Principal, password: string, code: string): Promise<string[]> {
      const account = await person(principal);
      if (account.totpEnabled) throw failedPrecondition("TOTP_ALREADY_ENABLED", "TOTP is already enabled");
      if (!account.totpSecretSealed) throw failedPrecondition("TOTP_NOT_ENROLLING", "call EnrollTotp first");
      await attempts(account.id);
      const passwordOk = await passwordMatches(account, password);
      if (!passwordOk || !(await checkTotp(account, code.trim())))
        throw unauthenticated("INVALID_CREDENTIALS", "the password or code is not valid");
      const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
      if (
        !(await store.enableTotp(account.id, hashCodes(codes), [
          securityNotice(account.id, "mfa_changed", { change: "enabled" }),
        ]))
      )
        throw failedPrecondition("TOTP_ALREADY_ENABLED", "TOTP is already enabled");
      return codes;
    },

    async disable(principal: Principal, password: string, code: string): Promise<void> {
      const account = await person(principal);
      requireEnabled(account);
      const passwordOk = await passwordMatches(account, password);
      const codeOk = await mfa.verifySecondFactor(account, code);
      if (!passwordOk || !codeOk)
        throw unauthenticated("INVALID_CREDENTIALS", "the password or code is not valid");
      await store.disableTotp(account.id, [
        securityNotice(account.id, "mfa_changed", { change: "disabled" }),
      ]);
    },

    async regenerateBackupCodes(principal: Principal, code: string): Promise<string[]> {
      const account = await person(principal);
      requireEnabled(account);
      await attempts(account.id);
      if (!(await checkTotp(account, code.trim())))
        throw unauthenticated("INVALID_CREDENTIALS", "the code is not valid");
      const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
      await store.replaceBackupCodes(account.id, hashCodes(codes));
      return codes;
    },
  };
  return mfa;
}

export type Mfa = ReturnType<typeof createMfa>;
