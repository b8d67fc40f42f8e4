import type { Principal } from "@parley/kit/auth";
import { invalidArgument } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { requireUuid } from "@parley/kit/ids";
import { cursors, type Paging } from "@parley/kit/paging";
import type { SessionServiceService } from "@parley/proto/parley/session/v1/session";
import type { Sessions } from "../domain/sessions";
import { type WatchDeps, watchSession } from "../domain/watch";
import {
  eventMessage,
  messageMessage,
  sessionMessage,
  toMessageKind,
  toOptionalSessionKind,
  toSessionKind,
  toSignalKind,
  toStatus,
} from "./mapping";

/** Who is asking, as part of a page token's query: a token only opens the caller's own lists. */
const callerOf = (principal: Principal) =>
  principal.kind === "user" ? principal.userId : principal.kind === "service" ? principal.service : "";

export function sessionHandlers(
  sessions: Sessions,
  watch: Omit<WatchDeps, "eventsBetween">,
  paging: Paging,
): Handlers<typeof SessionServiceService> {
  return {
    async requestSession(request, ctx) {
      const result = await sessions.requestSession(ctx.principal, {
        expertId: requireUuid(request.expertId, "expert_id"),
        kind: toSessionKind(request.kind),
        requestId: request.requestId,
      });
      return {
        session: sessionMessage(result.session, result.queuePosition),
        queuePosition: result.queuePosition,
        estimatedWaitSeconds: BigInt(result.estimatedWaitSeconds),
      };
    },
    async acceptSession(request, ctx) {
      return {
        session: sessionMessage(
          await sessions.acceptSession(ctx.principal, requireUuid(request.sessionId, "session_id")),
        ),
      };
    },
    async declineSession(request, ctx) {
      return {
        session: sessionMessage(
          await sessions.declineSession(ctx.principal, requireUuid(request.sessionId, "session_id")),
        ),
      };
    },
    async cancelSession(request, ctx) {
      return {
        session: sessionMessage(
          await sessions.cancelSession(ctx.principal, requireUuid(request.sessionId, "session_id")),
        ),
      };
    },
    async endSession(request, ctx) {
      return {
        session: sessionMessage(
          await sessions.endSession(ctx.principal, requireUuid(request.sessionId, "session_id")),
        ),
      };
    },
    async getSession(request, ctx) {
      const { session, queuePosition } = await sessions.getSession(
        ctx.principal,
        requireUuid(request.sessionId, "session_id"),
      );
      return { session: sessionMessage(session, queuePosition) };
    },
    async listSessions(request, ctx) {
      if (request.participantId) requireUuid(request.participantId, "participant_id");
      const filters = {
        participantId: request.participantId,
        statuses: request.statuses.map(toStatus),
        kind: toOptionalSessionKind(request.kind),
        asExpert: request.asExpert,
      };
      const page = paging.open(request, {
        query: ["session.ListSessions", callerOf(ctx.principal), filters],
        sizes: { default: 20, max: 100 },
        cursor: cursors.uuid,
      });
      const list = await sessions.listSessions(ctx.principal, {
        ...filters,
        beforeId: page.after,
        limit: page.size,
      });
      return {
        sessions: list.map((s) => sessionMessage(s)),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.id : undefined),
      };
    },
    async getQueue(request, ctx) {
      const entries = await sessions.getQueue(ctx.principal, requireUuid(request.expertId, "expert_id"));
      return {
        entries: entries.map((entry) => ({
          session: sessionMessage(entry.session, entry.position),
          position: entry.position,
          estimatedWaitSeconds: BigInt(entry.estimatedWaitSeconds),
        })),
      };
    },
    async sendMessage(request, ctx) {
      const message = await sessions.sendMessage(ctx.principal, {
        sessionId: requireUuid(request.sessionId, "session_id"),
        kind: toMessageKind(request.kind),
        text: request.text,
        attachmentUrl: request.attachmentUrl,
        attachmentContentType: request.attachmentContentType,
        clientMsgId: request.clientMsgId,
      });
      return { message: messageMessage(message) };
    },
    async listMessages(request, ctx) {
      const sessionId = requireUuid(request.sessionId, "session_id");
      const page = paging.open(request, {
        // Any participant may continue a page another started: who may read is checked on each call.
        query: ["session.ListMessages", sessionId],
        sizes: { default: 50, max: 200 },
        cursor: cursors.int64,
      });
      const list = await sessions.listMessages(ctx.principal, sessionId, page.after ?? 0n, page.size);
      return {
        messages: list.map(messageMessage),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.seq : undefined),
      };
    },
    async markRead(request, ctx) {
      const receipt = await sessions.markRead(
        ctx.principal,
        requireUuid(request.sessionId, "session_id"),
        request.deliveredSeq,
        request.readSeq,
      );
      return { receipt };
    },
    async sendTyping(request, ctx) {
      await sessions.sendTyping(ctx.principal, requireUuid(request.sessionId, "session_id"), request.typing);
      return {};
    },
    async sendSignal(request, ctx) {
      await sessions.sendSignal(
        ctx.principal,
        requireUuid(request.sessionId, "session_id"),
        toSignalKind(request.kind),
        request.payload,
      );
      return {};
    },
    async submitReview(request, ctx) {
      const review = await sessions.submitReview(ctx.principal, {
        sessionId: requireUuid(request.sessionId, "session_id"),
        rating: request.rating,
        text: request.text,
      });
      return { review };
    },
    async reportPresence(request) {
      await sessions.reportPresence(
        requireUuid(request.userId, "user_id"),
        request.sessionId ? requireUuid(request.sessionId, "session_id") : undefined,
        request.online,
      );
      return {};
    },
    async watchSession(request, ctx, stream) {
      const sessionId = requireUuid(request.sessionId, "session_id");
      if (request.afterSeq < 0n) throw invalidArgument("VALIDATION_FAILED", "after_seq cannot be negative");
      await sessions.visible(ctx.principal, sessionId);
      await watchSession(
        { ...watch, eventsBetween: sessions.eventsBetween },
        sessionId,
        request.afterSeq,
        (event) => stream.write(eventMessage(event)),
        ctx.signal,
      );
    },
  };
}
