import { createHash, timingSafeEqual } from "node:crypto";
import { unauthenticated } from "@parley/kit/errors";
import { guardAttempts } from "./attempts";
import type { AttemptLimiter } from "./ports";
import type { Sessions } from "./sessions";

const fingerprint = (value: string) => createHash("sha256").update(value).digest();

/**
 * Parley's services prove who they are with a secret from SERVICE_CREDENTIALS and get a
 * short-lived token with role `service`; internal RPCs admit only those.
 */
export function createServiceIdentities(deps: {
  /** Each service's secrets: one, or two while it is being rotated. */
  credentials: ReadonlyMap<string, readonly string[]>;
  sessions: Sessions;
  limiter: AttemptLimiter;
}) {
  return {
    /**
     * Counted per calling address, not per service name: a stranger guessing as "billing"
     * exhausts only its own allowance, never billing's renewals. The exact address, not its
     * /64 (addressKey): in an IPv6 cluster the services of one node share a /64.
     */
    async issue(serviceName: string, secret: string, ipAddress: string) {
      await guardAttempts(deps.limiter, [{ key: `service:ip:${ipAddress}`, limit: 60, windowSeconds: 60 }]);
      const expected = deps.credentials.get(serviceName);
      // Compare digests in constant time with every secret, whether or not the service is known.
      const given = fingerprint(secret);
      const matches = (expected ?? [`unknown:${secret}x`]).filter((e) =>
        timingSafeEqual(fingerprint(e), given),
      );
      if (!expected || matches.length === 0)
        throw unauthenticated("SERVICE_CREDENTIALS_INVALID", "unknown service or wrong secret");
      return deps.sessions.serviceToken(serviceName);
    },
  };
}
