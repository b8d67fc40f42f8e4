import type { Assurance, PersonRole } from "@parley/kit/auth";

/** active; suspended by staff; deleted by its holder (anonymised, never usable again). */
export type AccountStatus = "active" | "suspended" | "deleted";

export interface Account {
  id: string;
  status: AccountStatus;
  emailVerifiedAt?: Date | null;
  phoneVerifiedAt?: Date | null;
  email: string | null;
  phone: string | null;
  passwordHash: string | null;
  role: PersonRole;
  partnerId: string | null;
  totpSecretSealed: string | null;
  totpEnabled: boolean;
  createdAt: Date;
}

/** A device signed in: one refresh-token family. */
export interface LoginSession {
  id: string;
  accountId: string;
  deviceName: string;
  ipAddress: string;
  userAgent: string;
  assurance: Assurance;
  partnerId: string | null;
  /** The partner key that obtained it (ExchangeToken). */
  apiKeyId: string | null;
  createdAt: Date;
  lastUsedAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  revokedAt: Date | null;
}

export interface TokenPair {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  sessionId: string;
}

export interface MfaChallenge {
  challengeToken: string;
  methods: string[];
  expiresAt: Date;
}

export const API_KEY_SCOPES = ["users:sync", "users:read", "tokens:exchange"] as const;

export interface ApiKey {
  id: string;
  partnerId: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** Where a request came from, for login sessions and per-IP throttling. */
export interface ClientInfo {
  ipAddress: string;
  userAgent: string;
  deviceName: string;
  /** The client's Accept-Language as the edge passed it on: the language of messages it causes. */
  acceptLanguage?: string;
}

export interface SigningKey {
  kid: string;
  privateKeySealed: string;
  publicJwk: Record<string, string>;
  createdAt: Date;
  activatesAt: Date;
  expiresAt: Date | null;
}

/** An email or SMS to deliver, or a profile to create, written with the change that caused it. */
export type OutboxMessage =
  | {
      kind: "profile.ensure";
      payload: { userId: string; displayName: string; email: string; phone?: string };
    }
  | {
      kind: "notify.password_reset";
      /** userId and acceptLanguage choose the message's language (rows written before them have neither). */
      payload: {
        channel: "email" | "sms";
        to: string;
        token: string;
        expiresAt: string;
        userId?: string;
        acceptLanguage?: string;
      };
    }
  | {
      kind: "notify.no_account";
      payload: { channel: "email" | "sms"; to: string; acceptLanguage?: string };
    }
  | { kind: "notify.security"; payload: SecurityNotice }
  | { kind: "devices.forget"; payload: { loginSessionId: string } }
  /** The user service's profile follows the account's status (discovery hides the suspended). */
  | { kind: "profile.status"; payload: { userId: string; status: AccountStatus } }
  /** The session service stops the person's open sessions. */
  /** A one-time code to an address (user.SendVerificationCode); the row is deleted once sent. */
  | {
      kind: "verify.send";
      payload: {
        userId: string;
        address: string;
        sms: boolean;
        code: string;
        validMinutes: number;
        /** The asker's language, for a person who chose no locale (rows written before it have none). */
        acceptLanguage?: string;
      };
    }
  /** The session service removes a deleted person as author of their messages. */
  | { kind: "sessions.forget_author"; payload: { userId: string } }
  | {
      kind: "sessions.end";
      payload: { userId: string; reason: "account_suspended" | "wallet_frozen"; asPayerOnly?: boolean };
    };

/** The payload of one kind of outbox message. */
export type OutboxPayload<K extends OutboxMessage["kind"]> = Extract<OutboxMessage, { kind: K }>["payload"];

/** A security notice for the account holder (the user service's inbox; it cannot be turned off). */
export type SecurityNotice = {
  userId: string;
  notice: "new_sign_in" | "mfa_changed" | "password_changed";
  data: Record<string, string>;
};

/** The outbox message of a security notice, written in the transaction of the change. */
export const securityNotice = (
  userId: string,
  notice: SecurityNotice["notice"],
  data: Record<string, string> = {},
): OutboxMessage => ({ kind: "notify.security", payload: { userId, notice, data } });
