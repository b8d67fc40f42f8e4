import type { Principal } from "@parley/kit/auth";
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  permissionDenied,
  validationFailed,
} from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { maskContacts, scanContacts, scanLink } from "./contact-filter";
import { type Core, LIMITS, requireText, roleIn, userIdOf } from "./core";
import {
  DuplicateRecord,
  type MessageKind,
  type MessageRecord,
  type ReceiptRecord,
  type SessionRecord,
  type SignalKind,
} from "./model";

/** type/subtype (RFC 6838 names), without parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** An uploaded object's key in the upload store (`uploads/a.png`): no scheme, not `//host`. */
const ATTACHMENT_KEY = /^[A-Za-z0-9][A-Za-z0-9._~/-]*$/;

/** The other participant's app opens it: a key, or an https URL, never javascript: or data:. */
const isAttachmentLink = (value: string) =>
  ATTACHMENT_KEY.test(value) || (URL.canParse(value) && new URL(value).protocol === "https:");

/**
 * Why a session takes no message now, if it does not: messages go only while minutes are metered,
 * so none before both are connected (a call, or a chat whose user had left when it was accepted),
 * and none while metering is paused for a participant who went away (else reporting oneself away
 * would make the rest of a chat free).
 */
function refusesMessages(session: SessionRecord) {
  if (session.status !== "active")
    return failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active");
  if (!session.startedAt)
    return failedPrecondition("SESSION_NOT_STARTED", "the session has not started: both must be connected");
  if (session.pausedAt)
    return failedPrecondition(
      "SESSION_PAUSED",
      "the session is paused while a participant is away: messages wait until both are back",
    );
  return undefined;
}

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
      // One read: the session, whether its two people blocked each other, whether this is a retry.
      const found =
        principal.kind === "user"
          ? await store.getSessionForMessage(input.sessionId, principal.userId, input.clientMsgId)
          : undefined;
      const role = roleIn(principal, found?.session);
      if (role === "staff")
        throw permissionDenied("NOT_SESSION_PARTICIPANT", "operators read, they do not write");
      const senderId = userIdOf(principal);
      if (input.kind === "system")
        throw invalidArgument("VALIDATION_FAILED", "system messages are Parley's own");
      requireText(input.clientMsgId, "client_msg_id", LIMITS.clientMsgIdChars);
      const attachment = input.kind === "image" || input.kind === "file";
      requireText(input.text, "text", LIMITS.textChars, !attachment);
      requireText(input.attachmentUrl, "attachment_url", LIMITS.attachmentUrlChars, attachment);
      requireText(
        input.attachmentContentType,
        "attachment_content_type",
        LIMITS.attachmentContentTypeChars,
        false,
      );
      if (!attachment && (input.attachmentUrl || input.attachmentContentType))
        throw invalidArgument("VALIDATION_FAILED", "text messages carry no attachment");
      if (attachment && !isAttachmentLink(input.attachmentUrl))
        throw validationFailed([
          { field: "attachment_url", description: "must be an upload's key or an https URL" },
        ]);
      if (input.attachmentContentType && !MEDIA_TYPE.test(input.attachmentContentType))
        throw validationFailed([
          { field: "attachment_content_type", description: "must be a media type such as image/png" },
        ]);
      // The contact-detail filter: what it finds is masked, flagged for review, or refused. A link
      // cannot be masked and stay a link: one carrying contact details is refused under "mask".
      const action = core.rules.contactFilter ?? "flag";
      const contacts = action === "off" ? [] : scanContacts(input.text);
      const inLink = action === "off" ? [] : scanLink(input.attachmentUrl);
      const detected = [...contacts, ...inLink];
      const stored =
        contacts.length > 0 && action === "mask" ? maskContacts(input.text, contacts) : input.text;
      /** A retry gets the original message; the same id for other content is a client bug, said aloud. */
      const original = (message: MessageRecord) => {
        if (
          message.kind !== input.kind ||
          (message.text !== input.text && message.text !== stored) ||
          message.attachmentUrl !== input.attachmentUrl ||
          message.attachmentContentType !== input.attachmentContentType
        )
          throw alreadyExists("IDEMPOTENCY_KEY_REUSED", "client_msg_id was used for another message");
        return message;
      };
      const { session, blocked, retried } = found!;
      const resent = async () =>
        original((await store.findMessage(session.id, senderId, input.clientMsgId))!);
      if (retried) return resent();
      if (blocked)
        throw failedPrecondition("PARTICIPANT_BLOCKED", "messages between these two people are refused");
      const refused = refusesMessages(session);
      if (refused) throw refused;
      if ((detected.length > 0 && action === "refuse") || (inLink.length > 0 && action === "mask"))
        throw failedPrecondition(
          "CONTACT_DETAILS_NOT_ALLOWED",
          "keep the conversation on Parley: phone numbers, emails and payment handles are not allowed",
          { metadata: { kinds: [...new Set(detected.map((c) => c.kind))].join(",") } },
        );
      const flag = detected.length > 0 && action === "flag";
      const sent = await write(
        async (tx, emit) => {
          // One statement locks the row, takes the next seq (shared with the session's other
          // events) and stores the message with its event, only while the session is active.
          // Unless a flag adds its report, that is the whole write: no transaction around it.
          const appended = await tx.appendMessage({
            id: newId(),
            sessionId: session.id,
            senderId,
            kind: input.kind,
            text: stored,
            attachmentUrl: input.attachmentUrl,
            attachmentContentType: input.attachmentContentType,
            clientMsgId: input.clientMsgId,
            sentAt: now(),
            flagged: detected.length > 0,
          });
          if (!appended) return undefined;
          const { message, event } = appended;
          if (flag)
            await tx.insertReport({
              id: newId(),
              reporterId: null,
              requestId: null,
              targetKind: "message",
              targetId: message.id,
              subjectUserId: senderId,
              sessionId: session.id,
              reason: "off_platform",
              note: `contact details found: ${[...new Set(detected.map((c) => c.kind.replace("_", " ")))].join(", ")}`,
              source: "contact_filter",
              status: "open",
              resolution: null,
              resolutionNote: null,
              resolvedBy: null,
              createdAt: message.sentAt,
              resolvedAt: null,
            });
          await emit.stored(event);
          return message;
        },
        { oneStatement: !flag },
      ).catch(async (error: unknown) => {
        // Two retries raced: the loser returns the winner's message.
        if (!(error instanceof DuplicateRecord)) throw error;
        return resent();
      });
      if (sent) return sent;
      // Ended, or paused, since it was read: refused as it is now.
      const current = await store.getSession(session.id);
      throw (
        (current && refusesMessages(current)) ??
        failedPrecondition("SESSION_NOT_ACTIVE", "the session is not active")
      );
    },

    async listMessages(principal: Principal, sessionId: string, afterSeq: bigint, limit: number) {
      const { role } = await visible(principal, sessionId);
      const messages = await store.listMessages(sessionId, afterSeq, limit);
      // A message a moderator hid keeps its place in the sequence; only staff read its content.
      return role === "staff"
        ? messages
        : messages.map((m) =>
            m.hidden ? { ...m, text: "", attachmentUrl: "", attachmentContentType: "" } : m,
          );
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
        const { receipt, moved } = await tx.upsertReceipt(sessionId, {
          userId: userIdOf(principal),
          deliveredSeq: delivered,
          readSeq: read,
        });
        // Markers that did not move are no news: no event (a stored one each would give two
        // clients that mark every event read a loop of receipts).
        if (moved) await emit(sessionId, { type: "receipt", receipt });
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
