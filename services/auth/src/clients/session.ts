import { createServiceClient } from "@parley/kit/grpc";
import { EndReason } from "@parley/proto/parley/session/v1/session";
import { SessionStaffServiceService } from "@parley/proto/parley/session/v1/staff";

const REASONS = {
  account_suspended: EndReason.END_REASON_ACCOUNT_SUSPENDED,
  wallet_frozen: EndReason.END_REASON_WALLET_FROZEN,
} as const;

/** The session service as the back office uses it: stopping a person's sessions, listing live ones. */
export function createSessionStaff(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(SessionStaffServiceService, {
    address,
    credentials,
    // Ending sessions settles them: give billing time; every call is idempotent.
    defaultDeadlineMs: 30_000,
    idempotent: ["endPersonSessions", "listLiveSessions"],
  });
  return {
    client,
    async endSessions(userId: string, reason: keyof typeof REASONS, asPayerOnly: boolean) {
      await client.endPersonSessions({ userId, reason: REASONS[reason], asPayerOnly });
    },
    close: () => client.close(),
  };
}
