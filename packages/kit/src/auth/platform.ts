import type { JSONWebKeySet } from "jose";
import { z } from "zod";
import { unavailable } from "../errors";
import type { StaffActionRecorder } from "../grpc/server";
import type { Logger } from "../log";
import { type Authenticator, cacheApiKeyVerifier, createAuthenticator } from "./authenticator";
import { staffActionRecorder } from "./directory";
import type { PartnerPrincipal, PersonRole } from "./principal";
import { createRevocationList, type Revocation, type RevocationList, watchRevocations } from "./revocations";
import { createServiceTokenSource, type IssuedToken } from "./service-token-source";
import { createTokenVerifier, type TokenVerifier } from "./token-verifier";

/** What every service needs from auth to know who calls it, and to call others as itself. */
export interface AuthDirectory {
  getJwks(): Promise<JSONWebKeySet>;
  /** `callerToken` gives the asking service's own token: VerifyApiKey is for services only. */
  verifyApiKey(apiKey: string, callerToken: () => Promise<string>): Promise<PartnerPrincipal>;
  issueServiceToken(serviceName: string, secret: string): Promise<IssuedToken>;
  /** Credentials revoked after `afterSeq` (auth.ListRevocations); `callerToken` as for verifyApiKey. */
  listRevocations?(afterSeq: bigint, callerToken: () => Promise<string>): Promise<Revocation[]>;
  /** Puts a staff action done here in auth's audit log (auth.RecordStaffAction). */
  recordStaffAction?(action: StaffActionRecord, callerToken: () => Promise<string>): Promise<void>;
}

/** A staff action carried out at a service other than auth, for auth's audit log. */
export interface StaffActionRecord {
  actorUserId: string;
  actorRole: PersonRole;
  action: string;
  method: string;
  targetUserId: string;
  reason: string;
  request: Record<string, unknown>;
  requestId: string;
  /** Refused by the permission map: recorded as DENIED. */
  denied: boolean;
}

/** The environment variables of a service's identity, spelled once for every service. */
export const identityEnv = {
  JWT_ISSUER: z.string().min(1).default("https://auth.parley.local"),
  JWT_AUDIENCE: z.string().min(1).default("parley"),
  /** A fixed public key set (JSON JWKS) instead of auth's GetJwks: for tests and offline tools. */
  TRUSTED_JWKS: z
    .string()
    .optional()
    .refine((value) => value === undefined || isJwks(value), 'must be a JSON Web Key Set ({"keys": [...]})'),
  /** This service's identity towards the others (auth's SERVICE_CREDENTIALS holds the secret). */
  SERVICE_NAME: z.string().min(1).optional(),
  SERVICE_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /** A pre-issued service token instead of SERVICE_NAME/SECRET: for tests and offline tools. */
  SERVICE_ACCESS_TOKEN: z.string().min(1).optional(),
  /** How often revoked credentials (suspended people, revoked keys) are asked of auth. */
  REVOCATION_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
};

function isJwks(value: string): boolean {
  try {
    return Array.isArray((JSON.parse(value) as { keys?: unknown }).keys);
  } catch {
    return false;
  }
}

export interface PlatformIdentityOptions {
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  TRUSTED_JWKS?: string | undefined;
  SERVICE_NAME?: string | undefined;
  SERVICE_SECRET?: string | undefined;
  SERVICE_ACCESS_TOKEN?: string | undefined;
  /** auth itself passes its own store; every other service a gRPC client of auth. */
  directory?: AuthDirectory;
  /** The clock tokens are checked against (auth's tests move it; everyone else, real time). */
  now?: () => Date;
  /** How often revoked credentials are asked for (REVOCATION_POLL_MS; 1 s by default). */
  REVOCATION_POLL_MS?: number | undefined;
  /** Where failed revocation polls are told (throttled): revocation silently stopping is a hole. */
  log?: Logger;
}

/** While revocation polls keep failing, one warning this often. */
const POLL_FAILURE_LOG_MS = 60_000;

/** A poll failure's handler: the first failure warned at once, then one a minute, and the recovery. */
function pollFailures(log: Logger | undefined) {
  let failingSince: number | undefined;
  let warnedAt = 0;
  let failures = 0;
  return {
    failed(error: unknown) {
      const now = Date.now();
      failures += 1;
      failingSince ??= now;
      if (now - warnedAt < POLL_FAILURE_LOG_MS) return;
      warnedAt = now;
      log?.warn(
        { err: error, failures, failingForMs: now - failingSince },
        "revocations could not be polled from auth: revoked credentials are still accepted here",
      );
    },
    succeeded() {
      if (failingSince === undefined) return;
      log?.info({ failures, failedForMs: Date.now() - failingSince }, "revocations polled from auth again");
      failingSince = undefined;
      warnedAt = 0;
      failures = 0;
    },
  };
}

export interface PlatformIdentity {
  verifier: TokenVerifier;
  /** Bearer tokens (users, services) and partner API keys (verified by auth, cached briefly). */
  authenticate: Authenticator;
  /** This service's own bearer token for outgoing calls, renewed before it expires. */
  credentials: () => Promise<string>;
  /**
   * Credentials revoked before they expire, polled from auth when the directory can list them:
   * the verifier and the API-key check refuse them; the edge closes the sockets of people in it.
   */
  revocations: RevocationList;
  /**
   * The kit server's `recordStaffAction`: staff actions into auth's audit log, as this service.
   * Unset with TRUSTED_JWKS (tests and offline tools: no auth to ask) or a directory that
   * cannot record them (auth's own, which writes its log itself).
   */
  recordStaffAction?: StaffActionRecorder;
  /** Stops the revocation poll. */
  stop(): void;
}

/** A service's view of identity: who calls it, and who it is when it calls others. */
export function createPlatformIdentity(options: PlatformIdentityOptions): PlatformIdentity {
  const trusted = options.TRUSTED_JWKS ? (JSON.parse(options.TRUSTED_JWKS) as JSONWebKeySet) : undefined;
  const directory = options.directory;
  const revocations = createRevocationList(options.now, (error) =>
    options.log?.error({ err: error }, "a revocation listener failed"),
  );
  const verifier = createTokenVerifier({
    issuer: options.JWT_ISSUER,
    audience: options.JWT_AUDIENCE,
    revocations,
    ...(options.now ? { now: options.now } : {}),
    fetchJwks: async () => {
      if (trusted) return trusted;
      if (!directory) throw unavailable("AUTH_UNAVAILABLE", "no key set: set AUTH_ADDRESS or TRUSTED_JWKS");
      return directory.getJwks();
    },
  });
  const { SERVICE_NAME: name, SERVICE_SECRET: secret, SERVICE_ACCESS_TOKEN: fixedToken } = options;
  const credentials = fixedToken
    ? async () => fixedToken
    : directory && name && secret
      ? createServiceTokenSource(() => directory.issueServiceToken(name, secret))
      : async () => {
          throw unavailable(
            "NO_SERVICE_IDENTITY",
            "SERVICE_NAME and SERVICE_SECRET are needed to call other services",
          );
        };
  const checkedApiKeys = directory
    ? cacheApiKeyVerifier((key) => directory.verifyApiKey(key, credentials))
    : undefined;
  const authenticate = createAuthenticator({
    tokens: verifier,
    ...(checkedApiKeys
      ? {
          verifyApiKey: async (key: string) => {
            const principal = await checkedApiKeys(key);
            revocations.check(principal, 0);
            return principal;
          },
        }
      : {}),
  });
  const listRevocations = directory?.listRevocations?.bind(directory);
  const polls = pollFailures(options.log);
  const watch = listRevocations
    ? watchRevocations(revocations, (after) => listRevocations(after, credentials), {
        intervalMs: options.REVOCATION_POLL_MS ?? 1_000,
        onError: polls.failed,
        onSuccess: polls.succeeded,
      })
    : undefined;
  const recordStaffAction =
    directory?.recordStaffAction && !trusted ? staffActionRecorder(directory, credentials) : undefined;
  return { verifier, authenticate, credentials, revocations, recordStaffAction, stop: () => watch?.stop() };
}
