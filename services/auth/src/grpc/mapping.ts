import { type BlockList, isIP } from "node:net";
import type { PersonRole } from "@parley/kit/auth";
import { enumMapping } from "@parley/kit/enums";
import type { CallContext } from "@parley/kit/grpc";
import {
  type Account as AccountMessage,
  AccountStatus,
  type ApiKey as ApiKeyMessage,
  Assurance,
  type LoginSession as LoginSessionMessage,
  Role,
  type TokenPair as TokenPairMessage,
} from "@parley/proto/parley/auth/v1/auth";
import type { Account, ApiKey, ClientInfo, LoginSession, TokenPair } from "../domain/model";

const ROLE = enumMapping<PersonRole, Role>({
  user: Role.ROLE_USER,
  expert: Role.ROLE_EXPERT,
  operator: Role.ROLE_OPERATOR,
  admin: Role.ROLE_ADMIN,
  support: Role.ROLE_SUPPORT,
  moderator: Role.ROLE_MODERATOR,
});

const STATUS = enumMapping<Account["status"], AccountStatus>({
  active: AccountStatus.ACCOUNT_STATUS_ACTIVE,
  suspended: AccountStatus.ACCOUNT_STATUS_SUSPENDED,
  deleted: AccountStatus.ACCOUNT_STATUS_DELETED,
});

const ASSURANCE = enumMapping<LoginSession["assurance"], Assurance>({
  aal1: Assurance.ASSURANCE_AAL1,
  aal2: Assurance.ASSURANCE_AAL2,
});

export const roleToProto = ROLE.toProto;
export const roleFromProto = (role: Role, field: string): PersonRole => ROLE.toDomain(role, field);

export const accountMessage = (account: Account): AccountMessage => ({
  userId: account.id,
  email: account.email ?? "",
  phone: account.phone ?? "",
  role: ROLE.toProto(account.role),
  mfaEnabled: account.totpEnabled,
  createTime: account.createdAt,
  status: STATUS.toProto(account.status),
  emailVerified: Boolean(account.email && account.emailVerifiedAt),
  phoneVerified: Boolean(account.phone && account.phoneVerifiedAt),
});

export const tokenPairMessage = (pair: TokenPair): TokenPairMessage => ({
  accessToken: pair.accessToken,
  accessTokenExpireTime: pair.accessTokenExpiresAt,
  refreshToken: pair.refreshToken,
  refreshTokenExpireTime: pair.refreshTokenExpiresAt,
  sessionId: pair.sessionId,
  tokenType: "Bearer",
});

export const sessionMessage = (session: LoginSession, current: boolean): LoginSessionMessage => ({
  sessionId: session.id,
  deviceName: session.deviceName,
  ipAddress: session.ipAddress,
  userAgent: session.userAgent,
  assurance: ASSURANCE.toProto(session.assurance),
  createTime: session.createdAt,
  lastUsedTime: session.lastUsedAt,
  current,
});

export const apiKeyMessage = (key: ApiKey): ApiKeyMessage => ({
  keyId: key.id,
  partnerId: key.partnerId,
  name: key.name,
  prefix: key.prefix,
  scopes: key.scopes,
  expireTime: key.expiresAt ?? undefined,
  revokeTime: key.revokedAt ?? undefined,
  lastUsedTime: key.lastUsedAt ?? undefined,
  createTime: key.createdAt,
});

/** "ipv4:10.0.0.5:51234" / "ipv6:[::1]:51234" → the address. */
function peerAddress(peer: string): string {
  const match = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return match?.[1] ?? peer;
}

const first = (ctx: CallContext, key: string) => {
  const value = ctx.metadata.get(key)[0];
  return typeof value === "string" ? value : "";
};

/**
 * Where the request came from. The edge states the end client's address in x-client-ip;
 * that is believed only from a trusted peer (CLIENT_IP_TRUSTED_PEERS), so anyone else calling
 * auth's gRPC directly cannot pick the IP its attempts are counted under.
 */
export function clientInfo(ctx: CallContext, deviceName: string, trustedPeers: BlockList): ClientInfo {
  const peer = peerAddress(ctx.peer);
  const family = isIP(peer) === 6 ? "ipv6" : "ipv4";
  const trusted = isIP(peer) !== 0 && trustedPeers.check(peer, family);
  const stated = first(ctx, "x-client-ip");
  return {
    ipAddress: trusted && isIP(stated) ? stated : peer,
    userAgent: (trusted ? first(ctx, "x-client-user-agent") : "") || first(ctx, "user-agent"),
    deviceName: deviceName.trim(),
    acceptLanguage: acceptLanguageOf(ctx),
  };
}

/** The caller's Accept-Language (the edge passes the client's on): the language of messages the call sends. */
export const acceptLanguageOf = (ctx: CallContext) => first(ctx, "accept-language").slice(0, 200);
