import { invalidArgument } from "@parley/kit/errors";
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

const STATUS: Record<model.SessionStatus, SessionStatus> = {
  requested: SessionStatus.SESSION_STATUS_REQUESTED,
  waiting: SessionStatus.SESSION_STATUS_WAITING,
  active: SessionStatus.SESSION_STATUS_ACTIVE,
  ended: SessionStatus.SESSION_STATUS_ENDED,
  cancelled: SessionStatus.SESSION_STATUS_CANCELLED,
  declined: SessionStatus.SESSION_STATUS_DECLINED,
  expired: SessionStatus.SESSION_STATUS_EXPIRED,
};

const END_REASON: Record<model.EndReason, EndReason> = {
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
};

const MESSAGE_KIND: Record<model.MessageKind, MessageKind> = {
  text: MessageKind.MESSAGE_KIND_TEXT,
  image: MessageKind.MESSAGE_KIND_IMAGE,
  file: MessageKind.MESSAGE_KIND_FILE,
  system: MessageKind.MESSAGE_KIND_SYSTEM,
};

const SIGNAL_KIND: Record<model.SignalKind, SignalKind> = {
  offer: SignalKind.SIGNAL_KIND_OFFER,
  answer: SignalKind.SIGNAL_KIND_ANSWER,
  ice_candidate: SignalKind.SIGNAL_KIND_ICE_CANDIDATE,
  hangup: SignalKind.SIGNAL_KIND_HANGUP,
};

function reverse<K extends string, V>(table: Record<K, V>, value: V, field: string): K {
  const entry = Object.entries(table).find(([, v]) => v === value);
  if (!entry) throw invalidArgument("VALIDATION_FAILED", `${field} is missing or unknown`);
  return entry[0] as K;
}

export const endReasonMessage = (reason: model.EndReason | null) =>
  reason ? END_REASON[reason] : EndReason.END_REASON_UNSPECIFIED;
export const toStatus = (value: SessionStatus) => reverse(STATUS, value, "status");
export const toMessageKind = (value: MessageKind) => reverse(MESSAGE_KIND, value, "kind");
export const toSignalKind = (value: SignalKind) => reverse(SIGNAL_KIND, value, "kind");
export const toSessionKind = (value: SessionKind): model.SessionKind => {
  if (value === SessionKind.SESSION_KIND_CHAT) return "chat";
  if (value === SessionKind.SESSION_KIND_CALL) return "call";
  throw invalidArgument("VALIDATION_FAILED", "kind must be chat or call");
};

const undef = (date: Date | null) => date ?? undefined;

export function sessionMessage(session: model.SessionRecord, queuePosition = 0): Session {
  return {
    sessionId: session.id,
    userId: session.userId,
    expertId: session.expertId,
    kind: session.kind === "chat" ? SessionKind.SESSION_KIND_CHAT : SessionKind.SESSION_KIND_CALL,
    status: STATUS[session.status],
    rate: { amountMinor: session.rateMinor, currency: session.currency },
    minutesCharged: BigInt(session.minutesCharged),
    minutesLeft: session.minutesLeft,
    endReason: session.endReason ? END_REASON[session.endReason] : EndReason.END_REASON_UNSPECIFIED,
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
    kind: MESSAGE_KIND[message.kind],
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
          status: STATUS[body.session.status],
          endReason: body.session.endReason
            ? END_REASON[body.session.endReason]
            : EndReason.END_REASON_UNSPECIFIED,
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
        value: { fromUserId: body.fromUserId, kind: SIGNAL_KIND[body.kind], payload: body.payload },
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
