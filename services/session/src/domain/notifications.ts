import type { EventBody, NotificationIntent, SessionRecord } from "./model";

/**
 * What people are told of a session's changes, decided here and written to the outbox in the
 * transaction of the change. Each intent's id names the change (`<session>:<what>`): a
 * session passes each state once, so the id is the user service's idempotency key and the
 * same change enqueued twice is one notification.
 */
export function intentsFor(body: EventBody): NotificationIntent[] {
  if (body.type !== "status_changed") return [];
  const s = body.session;
  const forUser = { session_id: s.id, expert_id: s.expertId, session_kind: s.kind };
  const forExpert = { session_id: s.id, user_id: s.userId, session_kind: s.kind };
  switch (s.status) {
    case "active":
      return [{ id: `${s.id}:accepted`, userId: s.userId, kind: "session_accepted", data: forUser }];
    case "declined":
      return [{ id: `${s.id}:declined`, userId: s.userId, kind: "session_declined", data: forUser }];
    case "cancelled":
      return [{ id: `${s.id}:cancelled`, userId: s.expertId, kind: "request_cancelled", data: forExpert }];
    case "expired":
      return [
        { id: `${s.id}:expired:user`, userId: s.userId, kind: "session_expired", data: forUser },
        { id: `${s.id}:expired:expert`, userId: s.expertId, kind: "request_expired", data: forExpert },
      ];
    case "ended":
      return [
        {
          id: `${s.id}:ended`,
          userId: s.userId,
          kind: "session_ended",
          data: {
            ...forUser,
            end_reason: s.endReason ?? "",
            minutes: String(s.minutesCharged),
            amount_minor: (s.rateMinor * BigInt(s.minutesCharged)).toString(),
            currency: s.currency,
          },
        },
      ];
    default:
      return [];
  }
}

/** The expert is told a request joined their queue, with its place in it. */
export function requestWaiting(session: SessionRecord, position: number): NotificationIntent {
  return {
    id: `${session.id}:waiting`,
    userId: session.expertId,
    kind: "request_waiting",
    data: {
      session_id: session.id,
      user_id: session.userId,
      session_kind: session.kind,
      position: String(position),
    },
  };
}
