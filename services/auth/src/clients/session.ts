import { createServiceClient } from "@parley/kit/grpc";
import { EndReason, SessionServiceService } from "@parley/proto/parley/session/v1/session";
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
    idempotent: ["endPersonSessions", "listLiveSessions", "forgetAuthor"],
  });
  // The staff member's own token is forwarded on reads (session checks it is staff too).
  const sessions = createServiceClient(SessionServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 10_000,
    idempotent: ["listSessions", "listMessages"],
  });
  return {
    client,
    sessions,
    async endSessions(userId: string, reason: keyof typeof REASONS, asPayerOnly: boolean) {
      await client.endPersonSessions({ userId, reason: REASONS[reason], asPayerOnly });
    },
    async forgetAuthor(userId: string) {
      await client.forgetAuthor({ userId });
    },
    close: () => {
      client.close();
      sessions.close();
    },
  };
}
