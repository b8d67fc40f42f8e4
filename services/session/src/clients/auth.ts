import { createServiceClient, type ServiceClient } from "@parley/kit/grpc";
import { BackOfficeServiceService } from "@parley/proto/parley/auth/v1/backoffice";
import type { BackOffice } from "../domain/safety-ports";

export type BackOfficeClient = ServiceClient<typeof BackOfficeServiceService>;

export function createBackOfficeClient(address: string): BackOfficeClient {
  return createServiceClient(BackOfficeServiceService, {
    address,
    // Suspending a suspended person changes nothing: safe to retry.
    idempotent: ["suspendPerson"],
    defaultDeadlineMs: 10_000,
  });
}

/** Auth's back office, called with the staff member's own token: auth authorises and audits them. */
export function backOffice(client: BackOfficeClient): BackOffice {
  return {
    async suspend(userId, reason, staffToken) {
      await client.suspendPerson({ userId, reason }, { bearerToken: staffToken });
    },
  };
}
