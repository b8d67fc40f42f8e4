import {
  type AccessTokenClaims,
  type Assurance,
  MAX_ACCESS_TOKEN_SECONDS,
  type Principal,
  SERVICE_SUBJECT_PREFIX,
  signAccessToken,
} from "@parley/kit/auth";
import { aborted, notFound, permissionDenied, unauthenticated } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type Account, type ClientInfo, type LoginSession, securityNotice, type TokenPair } from "./model";
import type { AuthPolicy } from "./policy";
import type { Cursor, LoginSessionStore } from "./ports";
import { randomToken, type Secrets } from "./secrets";
import type { KeyRing } from "./signing-keys";
import { assertUsable } from "./status";

export interface SessionDeps {
  store: LoginSessionStore;
  secrets: Secrets;
  keys: KeyRing;
  policy: AuthPolicy;
  issuer: string;
  audience: string;
  now: () => Date;
}

const DAY_MS = 86_400_000;
/** The reason a session ended by its own logout is revoked with. */
const LOGOUT = "logout";

/** Login sessions and the tokens that carry them: issue, rotate, list, revoke. */
export function createSessions(deps: SessionDeps) {
  const { store, secrets, keys, policy, now } = deps;

  const signToken = async (claims: AccessTokenClaims, at: Date) => {
    const { kid, key } = await keys.signer();
    const token = await signAccessToken({
      key,
      kid,
      issuer: deps.issuer,
      audience: deps.audience,
      ttlSeconds: policy.accessTokenTtlSeconds,
      claims,
      now: at,
    });
    // signAccessToken works in whole seconds from `at`.
    const expiresAt = new Date((Math.floor(at.getTime() / 1000) + policy.accessTokenTtlSeconds) * 1000);
    return { token, expiresAt };
  };

  const accessToken = (account: Account, session: LoginSession, at: Date) =>
    signToken(
      {
        sub: account.id,
        role: account.role,
        sid: session.id,
        acr: session.assurance,
        amr: session.partnerId ? ["ext"] : session.assurance === "aal2" ? ["pwd", "otp"] : ["pwd"],
        ...(session.partnerId ? { partner_id: session.partnerId } : {}),
      },
      at,
    );

  /** A new access token and refresh token for a session; the refresh token's row is the caller's to store. */
  const mintPair = async (account: Account, session: LoginSession, at: Date) => {
    const access = await accessToken(account, session, at);
    const refreshToken = randomToken(32);
    const pair: TokenPair = {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt: new Date(
        Math.min(session.idleExpiresAt.getTime(), session.absoluteExpiresAt.getTime()),
      ),
      sessionId: session.id,
    };
    return { pair, refresh: { id: newId(), hash: secrets.digest(refreshToken) } };
  };

  const sealPair = (pair: TokenPair) => secrets.seal(JSON.stringify(pair));
  const unsealPair = (sealed: string): TokenPair => {
    const raw = JSON.parse(secrets.unseal(sealed)) as Record<keyof TokenPair, string>;
    return {
      ...raw,
      accessTokenExpiresAt: new Date(raw.accessTokenExpiresAt),
      refreshTokenExpiresAt: new Date(raw.refreshTokenExpiresAt),
    };
  };

  const ownSession = (principal: Principal) => {
    if (principal.kind !== "user")
      throw permissionDenied("PERMISSION_DENIED", "only people have login sessions");
    return principal;
  };

  return {
    /** Revocations verifiers still need (younger than the longest token life), after a cursor. */
    revocations(afterSeq: bigint) {
      const since = new Date(now().getTime() - (MAX_ACCESS_TOKEN_SECONDS + 60) * 1000);
      return store.listRevocations(afterSeq, since, 1000);
    },

    /** Signs an account in on a new device: a new session (refresh-token family) and its first pair. */
    async start(
      account: Account,
      assurance: Assurance,
      client: ClientInfo,
      /** A partner's exchange: the partner, and the key it used (revoking it ends the session). */
      partner?: { partnerId: string; apiKeyId: string },
      /**
       * A sign-in (login, MFA login; not register, not a partner exchange): the person hears of
       * it unless it comes from a device they already use (the same IP address and user agent as
       * one of their sessions of the last sessionAbsoluteDays that no one ended but its own
       * logout), and its attempt counters kept in Postgres are reset with the session's statement.
       */
      signIn?: { resetCounters: string[] },
    ): Promise<TokenPair> {
      assertUsable(account);
      const at = now();
      const session: LoginSession = {
        id: newId(),
        accountId: account.id,
        deviceName: client.deviceName.slice(0, 120),
        ipAddress: client.ipAddress,
        userAgent: client.userAgent.slice(0, 300),
        assurance,
        partnerId: partner?.partnerId ?? null,
        apiKeyId: partner?.apiKeyId ?? null,
        createdAt: at,
        lastUsedAt: at,
        idleExpiresAt: new Date(at.getTime() + policy.sessionIdleDays * DAY_MS),
        absoluteExpiresAt: new Date(at.getTime() + policy.sessionAbsoluteDays * DAY_MS),
        revokedAt: null,
      };
      const { pair, refresh } = await mintPair(account, session, at);
      const stored = await store.createSession(
        session,
        refresh,
        { role: account.role, passwordHash: account.passwordHash },
        signIn && {
          notice: securityNotice(account.id, "new_sign_in", {
            login_session_id: session.id,
            device_name: session.deviceName,
            ip: session.ipAddress,
            user_agent: session.userAgent,
          }),
          knownDevice: {
            since: new Date(at.getTime() - policy.sessionAbsoluteDays * DAY_MS),
            endedFor: [LOGOUT],
          },
          resetCounters: signIn.resetCounters,
        },
      );
      // Suspended (or deleted) while the password was checked: the pair is never handed out.
      if (stored?.status !== "active") {
        assertUsable({ ...account, status: stored?.status ?? "deleted" });
        throw unauthenticated("INVALID_CREDENTIALS", "the credentials are not valid");
      }
      // Its password changed meanwhile (a reset, say): nothing was stored, and the one this
      // sign-in proved is no longer the account's.
      if (!stored.samePassword) throw unauthenticated("INVALID_CREDENTIALS", "the credentials are not valid");
      // The partner key was revoked meanwhile: nothing was stored.
      if (!stored.keyLive)
        throw unauthenticated("API_KEY_INVALID", "the API key is unknown, revoked or expired");
      // Its role changed meanwhile: nothing was stored and the pair, with the old role, is never
      // handed out. Not minted again at once: a change's revocation covers tokens issued in its
      // second (token times are whole seconds), so a new pair would be refused as well.
      if (stored.role !== account.role)
        throw aborted("ACCOUNT_CHANGED", "the account changed while signing in; sign in again", {
          retryAfterSeconds: 1,
        });
      return pair;
    },

    /**
     * Rotates a refresh token under its family's lock. A spent token is accepted only as a
     * retry of the newest rotation within refreshRetrySeconds, and then returns that same
     * pair; any other reuse revokes the session (RFC 9700 §4.14.2).
     */
    async refresh(refreshToken: string): Promise<TokenPair> {
      // Keys are loaded now, outside the family's transaction, so minting inside it needs no query.
      await keys.signer();
      const decision = await store.refreshFamily<TokenPair>(secrets.digests(refreshToken), async (state) => {
        const at = now();
        if (!state) return { kind: "reject", reason: "REFRESH_TOKEN_INVALID" };
        const { session } = state;
        if (session.revokedAt || state.account.status !== "active")
          return { kind: "reject", reason: "SESSION_REVOKED" };
        if (session.idleExpiresAt <= at || session.absoluteExpiresAt <= at)
          return { kind: "reject", reason: "REFRESH_TOKEN_INVALID" };
        if (!state.spentAt) {
          const idleExpiresAt = new Date(
            Math.min(at.getTime() + policy.sessionIdleDays * DAY_MS, session.absoluteExpiresAt.getTime()),
          );
          const { pair, refresh } = await mintPair(state.account, { ...session, idleExpiresAt }, at);
          return {
            kind: "rotate",
            next: { ...refresh, sealedPair: sealPair(pair) },
            at,
            idleExpiresAt,
            result: pair,
          };
        }
        const withinRetry = at.getTime() - state.spentAt.getTime() <= policy.refreshRetrySeconds * 1000;
        if (withinRetry && state.successorActive && state.successorSealed)
          return { kind: "replay", result: unsealPair(state.successorSealed) };
        return { kind: "revoke", reason: "refresh_token_reused", at };
      });
      switch (decision.kind) {
        case "rotate":
        case "replay":
          return decision.result;
        case "revoke":
          throw unauthenticated(
            "REFRESH_TOKEN_REUSED",
            "this refresh token was already used; the session is revoked",
          );
        case "reject":
          throw unauthenticated(decision.reason, "the refresh token is invalid, expired or revoked");
      }
    },

    /**
     * The sealed pair a spent token keeps is only for a retry within refreshRetrySeconds;
     * after that nothing may read it, so it is dropped rather than kept (even sealed).
     */
    forgetRetryPairs(): Promise<number> {
      return store.forgetRetryPairs(new Date(now().getTime() - policy.refreshRetrySeconds * 1000));
    },

    /**
     * A session's revocation matters only while a token of it can still be valid; every logout
     * writes one, so they are deleted once older than the longest token life (an hour of margin).
     */
    forgetSessionRevocations(): Promise<number> {
      return store.deleteSessionRevocations(
        new Date(now().getTime() - (MAX_ACCESS_TOKEN_SECONDS + 3600) * 1000),
      );
    },

    async logout(principal: Principal): Promise<void> {
      const person = ownSession(principal);
      if (!person.sessionId) return;
      await store.revokeSession(person.sessionId, person.userId, LOGOUT, now());
    },

    /** The caller's live sessions, newest first, `size` after the cursor. */
    async list(principal: Principal, size: number, after: Cursor | undefined) {
      const person = ownSession(principal);
      const page = await store.listLiveSessions(person.userId, now(), size, after);
      return {
        sessions: page.items.map((session) => ({ session, current: session.id === person.sessionId })),
        nextCursor: page.nextCursor,
      };
    },

    /** Ends one of the caller's sessions, or anyone's for an admin; returns whose it was. */
    async revoke(principal: Principal, sessionId: string): Promise<string> {
      const person = ownSession(principal);
      const owner = await store.revokeSession(
        sessionId,
        person.role === "admin" ? undefined : person.userId,
        "revoked",
        now(),
      );
      if (!owner) throw notFound("SESSION_NOT_FOUND", "no such live session");
      return owner;
    },

    /** A token for a Parley service identity (subject `service:<name>`). */
    serviceToken: (service: string) =>
      signToken({ sub: `${SERVICE_SUBJECT_PREFIX}${service}`, role: "service", amr: ["svc"] }, now()),
  };
}

export type Sessions = ReturnType<typeof createSessions>;
