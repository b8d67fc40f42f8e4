import type { PersonRole, Revocation } from "@parley/kit/auth";
import type { AuditEvent, AuditFilter } from "./audit";
import type {
  Account,
  AccountStatus,
  ApiKey,
  LoginSession,
  OutboxMessage,
  OutboxPayload,
  SecurityNotice,
  SigningKey,
} from "./model";

/** The state of a presented refresh token, read under the family's lock. */
export interface RefreshState {
  tokenId: string;
  spentAt: Date | null;
  /** The token that replaced it, when spent, and whether that one is still unspent. */
  successorId: string | null;
  successorActive: boolean;
  successorSealed: string | null;
  session: LoginSession;
  account: Account;
}

export type RefreshDecision<T> =
  | {
      kind: "rotate";
      next: { id: string; hash: string; sealedPair: string };
      at: Date;
      idleExpiresAt: Date;
      result: T;
    }
  | { kind: "replay"; result: T }
  | { kind: "revoke"; reason: string; at: Date }
  | { kind: "reject"; reason: "REFRESH_TOKEN_INVALID" | "SESSION_REVOKED" };

export interface ContactVerification {
  id: string;
  accountId: string;
  channel: "email" | "phone";
  address: string;
  codeHash: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface StatusChange {
  accountId: string;
  from: readonly AccountStatus[];
  to: AccountStatus;
  at: Date;
  revoke?: string;
  /** Erases what identifies the person: email, phone, password, TOTP secret, backup codes. */
  erase?: boolean;
  /** The audit event (staff actions; a person's own deletion has none). */
  record?: (before: Account) => AuditEvent;
  messages: OutboxMessage[];
}

/** What must be true before an account is deleted, asked of session and billing. */
export interface DeletionChecks {
  /** One of the person's open sessions (requested, queued, active), read with their own token. */
  openSession(bearerToken: string): Promise<string | undefined>;
  pendingMoney(
    userId: string,
  ): Promise<{ openHolds: number; pendingPayments: number; payoutsInFlight: number }>;
}

/** The person's data in the other services, read with their own token (so only theirs). */
/** A list as read for an export: `complete` is false when it was cut at the reader's page limit. */
export interface Listing<T = Record<string, unknown>> {
  items: T[];
  complete: boolean;
}

export interface DataSources {
  profile(bearerToken: string): Promise<Record<string, unknown>>;
  sessions(bearerToken: string): Promise<Listing<Record<string, unknown> & { sessionId: string }>>;
  /** The messages of a session the person sent. */
  messagesSent(bearerToken: string, sessionId: string, userId: string): Promise<Listing>;
  wallet(bearerToken: string): Promise<Record<string, unknown>>;
  transactions(bearerToken: string): Promise<Listing>;
  invoices(bearerToken: string): Promise<Listing>;
}

export type StatusChangeOutcome =
  | { outcome: "ok"; account: Account }
  | { outcome: "not_found" }
  | { outcome: "last_admin" }
  /** Its status is not one of `from`: nothing changed. */
  | { outcome: "unchanged"; account: Account };

/** Where a page of rows in (created_at, id) order ended. */
export interface Cursor {
  at: Date;
  id: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: Cursor | undefined;
}

export interface NewApiKey extends ApiKey {
  secretHash: string;
  requestId: string;
  requestDigest: string;
  createdBy: string;
}

/** Accounts: creation, role, password, status, contact verification and the back office's search. */
export interface AccountStore {
  /** Inserts an account and its outbox messages; false when the email or phone is taken. */
  insertAccount(account: Account, messages: OutboxMessage[]): Promise<boolean>;
  findAccountByIdentifier(identifier: { email?: string; phone?: string }): Promise<Account | undefined>;
  findAccount(id: string): Promise<Account | undefined>;
  /** A passwordless account for a partner's synced user, created once. */
  ensurePartnerAccount(id: string, partnerId: string, at: Date): Promise<Account>;
  /** Creates the admin account unless its email is taken; an existing account is never promoted. */
  insertBootstrapAdmin(account: Account): Promise<"created" | "exists_as_admin" | "exists_not_admin">;
  /** Sets the role; refuses (false) to demote the last admin. */
  setRole(
    accountId: string,
    role: PersonRole,
    /** When: a demotion revokes the tokens issued up to then. */
    at: Date,
    /** The audit event of the change, appended in its transaction. */
    record?: (before: PersonRole) => AuditEvent,
  ): Promise<"ok" | "not_found" | "last_admin">;
  setPassword(accountId: string, passwordHash: string, at: Date, notices?: OutboxMessage[]): Promise<void>;
  /**
   * Moves an account from one of `from` to `to` in one transaction with its audit event and
   * outbox messages. With `revoke` (a reason), every live login session and every API key the
   * account created is revoked, and revocations are recorded for its tokens and those keys.
   * Suspending the last active admin is refused.
   */
  changeAccountStatus(change: StatusChange): Promise<StatusChangeOutcome>;
  /** Spends the account's outstanding codes of that channel, stores a new one and queues it. */
  insertVerification(verification: ContactVerification, message: OutboxMessage): Promise<void>;
  /**
   * Under the newest live code's lock: `decide` compares it; a match spends it and marks the
   * account's address verified (when it is still the address the code went to); a mismatch
   * counts, and the `maxAttempts`-th spends it.
   */
  attemptVerification(
    accountId: string,
    channel: "email" | "phone",
    at: Date,
    maxAttempts: number,
    decide: (code: { id: string; codeHash: string }) => boolean,
  ): Promise<{ outcome: "none" } | { outcome: "verified" } | { outcome: "wrong"; attemptsLeft: number }>;
  /** Accounts by email or phone prefix, in id order after `afterId`. */
  searchAccounts(
    by: "email" | "phone",
    prefix: string,
    afterId: string | undefined,
    limit: number,
  ): Promise<Account[]>;
  findAccounts(ids: string[]): Promise<Account[]>;
}

/** What a sign-in (not a registration, not a partner's exchange) writes with its session. */
export interface SignInWrites {
  /** The person's "new sign-in" notice, queued unless the session comes from a known device. */
  notice: OutboxMessage;
  /**
   * A known device: another session of the account, not a partner's, from the same IP address
   * and user agent, created at or after `since`, that is live, expired, or ended for one of
   * `endedFor` (its own logout; not a revocation by the person or a password change).
   */
  knownDevice: { since: Date; endedFor: string[] };
  /** Attempt counters forgotten in `auth.attempt_counters`. */
  resetCounters: string[];
}

/**
 * Login sessions: opening, refresh families (and their retry pairs), listing, revoking; and the
 * revocations verifiers poll.
 */
export interface LoginSessionStore {
  /**
   * Stores the session and its first token only while the account is active and still has
   * `seen.role` (the role its first token carries) and `seen.passwordHash` (the password the
   * sign-in proved), read under a share lock on its row (a suspension, a role change or a new
   * password holds it for update), and, for a partner's exchange, while its key is not revoked
   * (read under a share lock too): returns what it read, and stores nothing unless all are as
   * expected. A sign-in's notice and counter reset are written by the
   * same statement, with the session.
   */
  createSession(
    session: LoginSession,
    firstToken: { id: string; hash: string },
    seen: { role: PersonRole; passwordHash: string | null },
    signIn?: SignInWrites,
  ): Promise<
    { status: AccountStatus; role: PersonRole; samePassword: boolean; keyLive: boolean } | undefined
  >;
  /** Drops the sealed pairs of tokens spent before `spentBefore` (their retry window passed). */
  forgetRetryPairs(spentBefore: Date): Promise<number>;
  /** Deletes `session:` revocations made before `before`; returns how many. */
  deleteSessionRevocations(before: Date): Promise<number>;
  /** `tokenHashes`: the token's digests under every secret of the ring (Secrets.digests). */
  refreshFamily<T>(
    tokenHashes: readonly string[],
    decide: (state: RefreshState | undefined) => Promise<RefreshDecision<T>>,
  ): Promise<RefreshDecision<T>>;
  findSession(id: string): Promise<LoginSession | undefined>;
  listLiveSessions(
    accountId: string,
    at: Date,
    limit: number,
    after?: { at: Date; id: string },
  ): Promise<Page<LoginSession>>;
  /** Revokes one session (of that account, when given); returns its account, undefined when none was live. */
  revokeSession(
    id: string,
    accountId: string | undefined,
    reason: string,
    at: Date,
  ): Promise<string | undefined>;
  /** Revokes every live session of an account except `keep`; returns how many. */
  revokeSessions(accountId: string, keep: string | undefined, reason: string, at: Date): Promise<number>;
  /** Revocations after `afterSeq` made since `since`, oldest first. */
  listRevocations(afterSeq: bigint, since: Date, limit: number): Promise<Revocation[]>;
}

/** Second factors: sign-in challenges, TOTP secrets and steps, backup codes. */
export interface MfaStore {
  insertMfaChallenge(challenge: {
    id: string;
    tokenHash: string;
    accountId: string;
    deviceName: string;
    ipAddress: string;
    userAgent: string;
    expiresAt: Date;
  }): Promise<void>;
  findMfaChallenge(
    tokenHashes: readonly string[],
    at: Date,
  ): Promise<
    { id: string; accountId: string; deviceName: string; ipAddress: string; userAgent: string } | undefined
  >;
  /** Marks a challenge used; false when it already was (one login per challenge). */
  useMfaChallenge(id: string, at: Date): Promise<boolean>;

  setTotpSecret(accountId: string, sealed: string): Promise<void>;
  /** Accounts whose sealed TOTP secret does not start with `prefix` (sealed under another secret). */
  listTotpSecretsSealedOtherwise(
    prefix: string,
    limit: number,
  ): Promise<{ accountId: string; sealed: string }[]>;
  /** Replaces the account's sealed TOTP secret when it is still `from`; false otherwise. */
  resealTotpSecret(accountId: string, from: string, to: string): Promise<boolean>;
  enableTotp(accountId: string, backupCodeHashes: string[], notices?: OutboxMessage[]): Promise<boolean>;
  disableTotp(accountId: string, notices?: OutboxMessage[]): Promise<void>;
  /** Records a TOTP time step as used; false when it (or a later one) already was. */
  acceptTotpStep(accountId: string, step: number): Promise<boolean>;
  /** Spends a backup code matching one of `codeHashes`; false when unknown or already used. */
  useBackupCode(accountId: string, codeHashes: readonly string[], at: Date): Promise<boolean>;
  replaceBackupCodes(accountId: string, hashes: string[]): Promise<void>;
}

/** Password resets by emailed or texted token. */
export interface PasswordResetStore {
  insertPasswordReset(
    reset: { id: string; tokenHash: string; accountId: string; createdAt: Date; expiresAt: Date },
    message: OutboxMessage,
  ): Promise<void>;
  findPasswordReset(
    tokenHashes: readonly string[],
    at: Date,
  ): Promise<{ id: string; accountId: string } | undefined>;
  /** Uses the reset once: new password, every session revoked; false when already used. */
  completePasswordReset(
    resetId: string,
    accountId: string,
    passwordHash: string,
    at: Date,
    notices?: OutboxMessage[],
  ): Promise<boolean>;
}

/** Partners' API keys. */
export interface ApiKeyStore {
  /** Inserts a key, or returns the one already created under the same request id. */
  insertApiKey(key: NewApiKey): Promise<{ created: boolean; key: ApiKey; requestDigest: string }>;
  listApiKeys(
    partnerId: string | undefined,
    limit: number,
    after?: { at: Date; id: string },
  ): Promise<Page<ApiKey>>;
  revokeApiKey(id: string, at: Date): Promise<ApiKey | undefined>;
  /** The key whose stored digest is one of `hashes`, with that digest. */
  findApiKeyBySecretHash(hashes: readonly string[]): Promise<(ApiKey & { secretHash: string }) | undefined>;
  /** Records a use; with `rehashed`, the key's digest moves to it (the current secret's). */
  touchApiKey(id: string, at: Date, rehashed?: string): Promise<void>;
}

/** The keys access tokens are signed with. */
export interface SigningKeyStore {
  listSigningKeys(): Promise<SigningKey[]>;
  /**
   * Adds a key unless another instance added one since `knownNewest` was read; keys
   * without an expiry get `retireOthersAt`.
   */
  addSigningKey(
    key: SigningKey,
    knownNewest: string | undefined,
    retireOthersAt: Date | null,
  ): Promise<boolean>;
}

/** Outbox messages queued on their own (not as part of another change). */
export interface OutboxStore {
  enqueueOutbox(messages: OutboxMessage[]): Promise<void>;
}

/** Auth's persistence: every method is one transaction. */
export type AuthStore = AccountStore &
  LoginSessionStore &
  MfaStore &
  PasswordResetStore &
  ApiKeyStore &
  SigningKeyStore &
  OutboxStore;

/** One counter an attempt is counted under: refused once more than `limit` happened in its window. */
export interface AttemptCounter {
  key: string;
  limit: number;
  windowSeconds: number;
}

/**
 * Attempt counters for brute-force protection (Redis when shared, in-process otherwise). Each
 * call covers several counters in one round trip (a sign-in counts its identifier and its IP
 * at once); keys within a call are distinct.
 */
export interface AttemptLimiter {
  /** Counts one attempt under each counter; the outcomes in the counters' order. */
  consume(counters: AttemptCounter[]): Promise<Array<{ allowed: boolean; retryAfterSeconds: number }>>;
  /** Forgets the attempts under these keys (after a success). */
  reset(keys: string[]): Promise<void>;
  /**
   * Forgets them everywhere but in Postgres (`auth.attempt_counters`, which a sign-in's own
   * statement clears: LoginSessionStore.createSession's `resetCounters`): Redis, when counting there.
   */
  resetOutsidePostgres(keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** The user service, as auth needs it. */
export interface SyncedUsers {
  /** The user id a partner synced under an external id; undefined when never synced. */
  lookup(partnerId: string, externalId: string): Promise<string | undefined>;
}

/** Password reset messages to the address asked for (the user service's email and SMS channels). */
export interface Notifier {
  sendPasswordReset(message: OutboxPayload<"notify.password_reset">): Promise<void>;
  /** A reset was asked for an address with no account: its owner learns so, nobody else does. */
  sendNoAccountNotice(message: OutboxPayload<"notify.no_account">): Promise<void>;
}

/** A profile as the back office lists it (the user service's). */
export interface ProfileSummary {
  userId: string;
  displayName: string;
  partnerId: string;
  externalId: string;
}

/** The user service's profiles, as the back office searches them. */
export interface StaffProfiles {
  search(
    query: { name: string } | { externalId: string },
    pageSize: number,
    pageToken: string,
  ): Promise<{ profiles: ProfileSummary[]; nextPageToken: string }>;
  byIds(userIds: string[]): Promise<ProfileSummary[]>;
}

/** Billing's wallets as the back office freezes them (idempotent). */
export interface Wallets {
  setFrozen(userId: string, frozen: boolean): Promise<{ wasFrozen: boolean }>;
}

/** What an account's status change asks of the other services (delivered from the outbox). */
export interface PersonEffects {
  /** The user service hides (or shows again) the person's profile; idempotent. */
  setProfileStatus(userId: string, status: AccountStatus): Promise<void>;
  /** The session service stops the person's open sessions; idempotent. */
  endSessions(
    userId: string,
    reason: "account_suspended" | "wallet_frozen",
    asPayerOnly: boolean,
  ): Promise<void>;
  /** The session service removes the person as author of their messages; idempotent. */
  forgetAuthor(userId: string): Promise<void>;
  /** A one-time code by email or SMS through the user service's channels. */
  sendVerificationCode(message: OutboxPayload<"verify.send">): Promise<void>;
}

/** The user service's inbox, for security notices (idempotent by the outbox row id). */
export interface SecurityNotifier {
  notify(eventId: string, notice: SecurityNotice): Promise<void>;
  /** Many notices in one call, one person's stored in the order given (an outbox batch). */
  notifyMany(notices: Array<{ eventId: string; notice: SecurityNotice }>): Promise<void>;
  /** The login session ended: its push devices are removed. */
  forgetLoginSession(loginSessionId: string): Promise<void>;
}

/** Creates a new account's profile in the user service (idempotent there). */
export interface ProfileDirectory {
  /** `waitMs` bounds the call (the outbox retries without one). */
  ensureProfile(
    /** `phone` is absent from outbox rows queued before it was sent. */
    profile: { userId: string; displayName: string; email: string; phone?: string },
    options?: { waitMs?: number },
  ): Promise<void>;
}

/** The append-only audit log of staff actions. */
export interface AuditLog {
  append(events: AuditEvent[]): Promise<void>;
  /** Newest first, strictly after the cursor in (created_at, id) order. */
  list(filter: AuditFilter, limit: number, after?: Cursor): Promise<Page<AuditEvent>>;
}
