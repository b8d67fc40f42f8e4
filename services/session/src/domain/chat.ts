import type { Principal } from "@parley/kit/auth";
import { alreadyExists, failedPrecondition, invalidArgument, permissionDenied } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type Core, LIMITS, requireText, userIdOf } from "./core";
import {
  DuplicateRecord,
  type MessageKind,
  type MessageRecord,
  type ReceiptRecord,
  type SignalKind,
} from "./model";

/** Messages, receipts, typing and call signals inside a session. */
export function chat(core: Core) {
  const { store, now, write, visible } = core;

  return {
    async sendMessage(
      principal: Principal,
      input: {
        sessionId: string;
        kind: MessageKind;
        text: string;
        attachmentUrl: string;
        attachmentContentType: string;
        clientMsgId: string;
      },
    ): Promise<MessageRecord> {
      const { session, role } = await visible(principal, input.sessionId);
      if (role === "staff")
        throw permissionDenied("NOT_SESSION_PARTICIPANT", "operators read, they do not write");
      const senderId = userIdOf(principal);
      if (input.kind === "system")
        throw invalidArgument("VALIDATION_FAILED", "system messages are Parley's own");
      requireText(input.clientMsgId, "client_msg_id", LIMITS.clientMsgIdChars);
      const attachment = input.kind === "image" || input.kind === "file";
      requireText(input.text, "text", LIMITS.textChars, !attachment);
      requireText(input.attachmentUrl, "attachment_url", LIMITS.attachmentUrlChars, attachment);
      if (!attachment && input.attachmentUrl)
        throw invalidArgument("VALIDATION_FAILED", "text messages carry no attachment");
      /** A retry gets the original message; the same id for other content is a client bug, said aloud. */
      const original = (message: MessageRecord) => {
        if (
          message.kind !== input.kind ||
          message.text !== input.text ||
          message.attachmentUrl !== input.attachmentUrl ||
          message.attachmentContentType !== input.attachmentContentType
        )
          throw alreadyExists("IDEMPOTENCY_KEY_REUSED", "client_msg_id was used for another message");
        return message;
      };
      const existing = await store.findMessage(session.id, senderId, input.clientMsgId);
      if (existing) return original(existing);
      if (session.status !== "active")
        throw failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active");
      return write(async (tx, emit) => {
        const locked = (await tx.lockSession(session.id))!;
        if (locked.status !== "active")
          throw failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active");
        const message = await tx.insertMessage({
          id: newId(),
          sessionId: session.id,
          senderId,
          kind: input.kind,
          text: input.text,
          attachmentUrl: input.attachmentUrl,
          attachmentContentType: input.attachmentContentType,
          clientMsgId: input.clientMsgId,
          sentAt: now(),
        });
        await emit(session.id, { type: "message", message });
        return message;
      }).catch(async (error: unknown) => {
        // Two retries raced: the loser returns the winner's message.
        if (!(error instanceof DuplicateRecord)) throw error;
        return original((await store.findMessage(session.id, senderId, input.clientMsgId))!);
      });
    },

    async listMessages(principal: Principal, sessionId: string, afterSeq: bigint, limit: number) {
      await visible(principal, sessionId);
      return store.listMessages(sessionId, afterSeq, limit);
    },

    async markRead(
      principal: Principal,
      sessionId: string,
      deliveredSeq: bigint,
      readSeq: bigint,
    ): Promise<ReceiptRecord> {
      const { role } = await visible(principal, sessionId);
      if (role === "staff")
        throw permissionDenied("NOT_SESSION_PARTICIPANT", "only participants have read markers");
      if (deliveredSeq < 0n || readSeq < 0n)
        throw invalidArgument("VALIDATION_FAILED", "seq cannot be negative");
      return write(async (tx, emit) => {
        const locked = (await tx.lockSession(sessionId))!;
        const cap = (seq: bigint) => (seq > locked.lastSeq ? locked.lastSeq : seq);
        const read = cap(readSeq);
        const delivered = cap(deliveredSeq > read ? deliveredSeq : read);
        const receipt = await tx.upsertReceipt(sessionId, {
          userId: userIdOf(principal),
          deliveredSeq: delivered,
          readSeq: read,
        });
        await emit(sessionId, { type: "receipt", receipt });
        return receipt;
      });
    },

    async sendTyping(principal: Principal, sessionId: string, typing: boolean) {
      const { session, role } = await visible(principal, sessionId);
      if (role === "staff") throw permissionDenied("NOT_SESSION_PARTICIPANT", "only participants type");
      if (session.status !== "active")
        throw failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active");
      core.publishEphemeral(sessionId, { type: "typing", userId: userIdOf(principal), typing });
    },

    async sendSignal(principal: Principal, sessionId: string, kind: SignalKind, payload: string) {
      const { session, role } = await visible(principal, sessionId);
      if (role === "staff") throw permissionDenied("NOT_SESSION_PARTICIPANT", "only participants signal");
      if (session.kind !== "call")
        throw failedPrecondition("SESSION_NOT_CALL", "signals are for call sessions");
      if (session.status !== "active")
        throw failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active");
      if (Buffer.byteLength(payload) > LIMITS.signalPayloadBytes)
        throw invalidArgument(
          "MESSAGE_TOO_LARGE",
          `payload is larger than ${LIMITS.signalPayloadBytes} bytes`,
        );
      core.publishEphemeral(sessionId, {
        type: "call_signal",
        fromUserId: userIdOf(principal),
        kind,
        payload,
      });
    },
  };
}
