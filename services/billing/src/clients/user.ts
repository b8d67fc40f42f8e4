import { createServiceClient } from "@parley/kit/grpc";
import { userNotifier as notifierOver } from "@parley/kit/notify";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";

/** The user service's Notify and NotifyMany over gRPC (idempotent by the outbox row id); close() on shutdown. */
export function userNotifier(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(UserServiceService, {
    address,
    credentials,
    idempotent: ["notify", "notifyMany"],
    defaultDeadlineMs: 5_000,
  });
  return { ...notifierOver(client), close: () => client.close() };
}
