import { createServiceClient } from "@parley/kit/grpc";
import { NotificationKind, UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { NotificationIntent } from "../workers/notifications";

/** The user service's Notify over gRPC (idempotent by the outbox row id); close() on shutdown. */
export function userNotifier(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(UserServiceService, {
    address,
    credentials,
    idempotent: ["notify"],
    defaultDeadlineMs: 5_000,
  });
  return {
    async notify(intent: NotificationIntent) {
      await client.notify({
        eventId: intent.id,
        userId: intent.userId,
        kind: NotificationKind[
          `NOTIFICATION_KIND_${intent.kind.toUpperCase()}` as keyof typeof NotificationKind
        ],
        data: intent.data,
      });
    },
    close: () => client.close(),
  };
}
