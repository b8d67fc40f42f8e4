import { enumMapping } from "@parley/kit/enums";
import {
  EndReason,
  type Message,
  MessageKind,
  type Session,
  type SessionEvent as SessionEventMessage,
  SessionKind,
  SessionStatus,
  SignalKind,
} from "@parley/proto/parley/session/v1/session";
import type * as model from "../domain/model";

const STATUS = enumMapping<model.SessionStatus, SessionStatus>({
  requested: SessionStatus.SESSION_STATUS_REQUESTED,
  waiting: SessionStatus.SESSION_STATUS_WAITING,
  active: SessionStatus.SESSION_STATUS_ACTIVE,
  ended: SessionStatus.SESSION_STATUS_ENDED,
  cancelled: SessionStatus.SESSION_STATUS_CANCELLED,
  declined: SessionStatus.SESSION_STATUS_DECLINED,
  expired: SessionStatus.SESSION_STATUS_EXPIRED,
});

const END_REASON = enumMapping<model.EndReason, EndReason>({
  user_ended: EndReason.END_REASON_USER_ENDED,
  expert_ended: EndReason.END_REASON_EXPERT_ENDED,
  operator_ended: EndReason.END_REASON_OPERATOR_ENDED,
  billing_refused: EndReason.END_REASON_BILLING_REFUSED,
  insufficient_funds: EndReason.END_REASON_INSUFFICIENT_FUNDS,
  declined: EndReason.END_REASON_DECLINED,
  expired: EndReason.END_REASON_EXPIRED,
  cancelled: EndReason.END_REASON_CANCELLED,
  disconnected: EndReason.END_REASON_DISCONNECTED,
  account_suspended: EndReason.END_REASON_ACCOUNT_SUSPENDED,
  wallet_frozen: EndReason.END_REASON_WALLET_FROZEN,
  blocked: EndReason.END_REASON_BLOCKED,
});

const MESSAGE_KIND = enumMapping<model.MessageKind, MessageKind>({
  text: MessageKind.MESSAGE_KIND_TEXT,
  image: MessageKind.MESSAGE_KIND_IMAGE,
  file: MessageKind.MESSAGE_KIND_FILE,
  system: MessageKind.MESSAGE_KIND_SYSTEM,
});

const SIGNAL_KIND = enumMapping<model.SignalKind, SignalKind>({
  offer: SignalKind.SIGNAL_KIND_OFFER,
  answer: SignalKind.SIGNAL_KIND_ANSWER,
  ice_candidate: SignalKind.SIGNAL_KIND_ICE_CANDIDATE,
  hangup: SignalKind.SIGNAL_KIND_HANGUP,
});

const SESSION_KIND = enumMapping<model.SessionKind, SessionKind>({
  chat: SessionKind.SESSION_KIND_CHAT,
  call: SessionKind.SESSION_KIND_CALL,
});

export const endReasonMessage = (reason: model.EndReason | null) =>
  reason ? END_REASON.toProto(reason) : EndReason.END_REASON_UNSPECIFIED;
export const toStatus = (value: SessionStatus) => STATUS.toDomain(value, "statuses");
export const toMessageKind = (value: MessageKind) => MESSAGE_KIND.toDomain(value, "kind");
export const toSignalKind = (value: SignalKind) => SIGNAL_KIND.toDomain(value, "kind");
export const toSessionKind = (value: SessionKind) => SESSION_KIND.toDomain(value, "kind");
export const toOptionalSessionKind = (value: SessionKind) => SESSION_KIND.toOptional(value, "kind");

const undef = (date: Date | null) => date ?? undefined;

export function sessionMessage(session: model.SessionRecord, queuePosition = 0): Session {
  return {
    sessionId: session.id,
    userId: session.userId,
    expertId: session.expertId,
    kind: SESSION_KIND.toProto(session.kind),
    status: STATUS.toProto(session.status),
    rate: { amountMinor: session.rateMinor, currency: session.currency },
    minutesCharged: BigInt(session.minutesCharged),
    minutesLeft: session.minutesLeft,
    endReason: endReasonMessage(session.endReason),
    holdId: session.holdId ?? "",
    invoiceId: session.invoiceId ?? "",
    queuePosition,
    requestedAt: session.requestedAt,
    acceptedAt: undef(session.acceptedAt),
    startedAt: undef(session.startedAt),
    endedAt: undef(session.endedAt),
    expiresAt: session.status === "waiting" || session.status === "requested" ? session.expiresAt : undefined,
  };
}

export function messageMessage(message: model.MessageRecord): Message {
  return {
    messageId: message.id,
    sessionId: message.sessionId,
    seq: message.seq,
    senderId: message.senderId,
    kind: MESSAGE_KIND.toProto(message.kind),
    text: message.text,
    attachmentUrl: message.attachmentUrl,
    attachmentContentType: message.attachmentContentType,
    clientMsgId: message.clientMsgId,
    sentAt: message.sentAt,
    hidden: message.hidden ?? false,
    flagged: message.flagged ?? false,
  };
}

function eventKind(body: model.EventBody): SessionEventMessage["kind"] {
  switch (body.type) {
    case "message":
      return { $case: "message", value: messageMessage(body.message) };
    case "receipt":
      return { $case: "receipt", value: body.receipt };
    case "typing":
      return { $case: "typing", value: { userId: body.userId, typing: body.typing } };
    case "status_changed":
      return {
        $case: "statusChanged",
        value: {
          status: STATUS.toProto(body.session.status),
          endReason: endReasonMessage(body.session.endReason),
          session: sessionMessage(body.session),
        },
      };
    case "queue_position":
      return {
        $case: "queuePosition",
        value: { position: body.position, estimatedWaitSeconds: BigInt(body.estimatedWaitSeconds) },
      };
    case "minute_charged":
      return {
        $case: "minuteCharged",
        value: {
          minute: BigInt(body.minute),
          amount: { amountMinor: body.amountMinor, currency: body.currency },
          minutesLeft: body.minutesLeft,
        },
      };
    case "low_balance":
      return { $case: "lowBalance", value: { minutesLeft: body.minutesLeft } };
    case "call_signal":
      return {
        $case: "callSignal",
        value: { fromUserId: body.fromUserId, kind: SIGNAL_KIND.toProto(body.kind), payload: body.payload },
      };
    case "heartbeat":
      return { $case: "heartbeat", value: {} };
  }
}

export function eventMessage(event: model.SessionEvent): SessionEventMessage {
  return {
    seq: event.seq,
    sessionId: event.sessionId,
    occurredAt: event.occurredAt,
    kind: eventKind(event.body),
  };
}
