import { allow, type Permission } from "@parley/kit/auth";
import { enumMapping } from "@parley/kit/enums";
import type { Handlers } from "@parley/kit/grpc";
import { requireUuid } from "@parley/kit/ids";
import { cursors, type Paging } from "@parley/kit/paging";
import { EndReason } from "@parley/proto/parley/session/v1/session";
import type { SessionStaffServiceService } from "@parley/proto/parley/session/v1/staff";
import type { Authorship } from "../domain/authorship";
import type { Sessions } from "../domain/sessions";
import { sessionMessage } from "./mapping";

/** The end reasons the back office stops a person's sessions with. */
const STAFF_END_REASON = enumMapping<"account_suspended" | "wallet_frozen", EndReason>({
  account_suspended: EndReason.END_REASON_ACCOUNT_SUSPENDED,
  wallet_frozen: EndReason.END_REASON_WALLET_FROZEN,
});

/** Only auth's back office, which authorises and audits the staff member behind the call. */
export const sessionStaffPermissions: { [K in keyof typeof SessionStaffServiceService]: Permission } = {
  endPersonSessions: allow.services("auth"),
  listLiveSessions: allow.services("auth"),
  forgetAuthor: allow.services("auth"),
};

export function sessionStaffHandlers(
  sessions: Sessions,
  paging: Paging,
  authorship: Authorship,
): Handlers<typeof SessionStaffServiceService> {
  return {
    async forgetAuthor(request) {
      return { messages: BigInt(await authorship.forgetAuthor(requireUuid(request.userId, "user_id"))) };
    },

    async endPersonSessions(request) {
      const userId = requireUuid(request.userId, "user_id");
      const reason = STAFF_END_REASON.toDomain(request.reason, "reason");
      const stopped = await sessions.endPersonSessions(userId, reason, request.asPayerOnly);
      return { sessions: stopped.map((session) => sessionMessage(session)) };
    },

    async listLiveSessions(request) {
      const page = paging.open(request, {
        query: ["session.ListLiveSessions"],
        sizes: { default: 20, max: 100 },
        cursor: cursors.uuid,
      });
      const list = await sessions.listLive(page.after, page.size);
      return {
        sessions: list.map((session) => sessionMessage(session)),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.id : undefined),
      };
    },
  };
}
