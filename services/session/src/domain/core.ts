import { isStaff, type Principal } from "@parley/kit/auth";
import { invalidArgument, isAppError, notFound, permissionDenied } from "@parley/kit/errors";
import type { Logger } from "@parley/kit/log";
import type { ContactFilterAction } from "./contact-filter";
import {
  assertTransition,
  type EndReason,
  type EventBody,
  type SessionEvent,
  type SessionRecord,
  type SessionStatus,
} from "./model";
import { intentsFor } from "./notifications";
import type {
  BillingPort,
  Clock,
  EventFeed,
  ExpertDirectory,
  SessionPatch,
  SessionStore,
  SessionTx,
} from "./ports";

export interface SessionRules {
  /** Minutes the hold placed at request time covers (MIN_MINUTES). */
  minMinutes: number;
  /** An unanswered request expires after this long. */
  requestTtlSeconds: number;
  /** The billing hold's own expiry: long enough for a queue wait plus a session. */
  holdTtlSeconds: number;
  /** A participant may be away this long before metering pauses. */
  pauseGraceSeconds: number;
  /** A participant away this long ends the session as `disconnected`. */
  disconnectTimeoutSeconds: number;
  /**
   * A side marked connected whose heartbeats stopped this long ago is taken as gone (its offline
   * report was lost); its minutes wait from 30 s before that. 0: off.
   */
  presenceTimeoutSeconds: number;
  /** Used for queue wait estimates. */
  averageSessionSeconds: number;
  /** Requests one expert may have waiting; the next is refused (QUEUE_FULL). */
  maxQueueLength: number;
  /** The billed unit: 60 in production; short in demos and end-to-end tests. */
  minuteSeconds: number;
  /**
   * How long a claim (metering, settlement) is a worker's alone: longer than a billing call
   * can take, retries included. A claim that outlives it is taken over.
   */
  leaseSeconds: number;
  /** What the contact-detail filter does with a message carrying contact details (CONTACT_FILTER). */
  contactFilter?: ContactFilterAction;
}

export const DEFAULT_RULES: SessionRules = {
  minMinutes: 5,
  requestTtlSeconds: 300,
  holdTtlSeconds: 6 * 3600,
  pauseGraceSeconds: 15,
  disconnectTimeoutSeconds: 120,
  presenceTimeoutSeconds: 90,
  averageSessionSeconds: 600,
  maxQueueLength: 50,
  minuteSeconds: 60,
  leaseSeconds: 30,
};

export const LIMITS = {
  textChars: 4000,
  attachmentUrlChars: 2048,
  attachmentContentTypeChars: 255,
  clientMsgIdChars: 128,
  signalPayloadBytes: 16 * 1024,
  reviewChars: 2000,
  requestIdChars: 128,
};

export interface SessionsDeps {
  store: SessionStore;
  billing: BillingPort;
  experts: ExpertDirectory;
  /** Fans events out to every watcher of their session; never waits. */
  feed: Pick<EventFeed, "publish">;
  now: Clock;
  rules: SessionRules;
  log: Logger;
}

/** Appends a stored event to the transaction; it is published after commit. */
export interface Emit {
  (sessionId: string, body: EventBody): Promise<void>;
  /**
   * An event a statement of the transaction already stored with its change (SendMessage's, one
   * statement for the message and its event): its notifications and publishing as if appended.
   */
  stored(event: SessionEvent): Promise<void>;
}

export type Role = "user" | "expert" | "staff";

/** The caller's relation to a session; people unrelated to it learn nothing (NOT_FOUND). */
export function roleIn(principal: Principal, session: SessionRecord | undefined): Role {
  if (session && principal.kind === "user") {
    if (principal.userId === session.userId) return "user";
    if (principal.userId === session.expertId) return "expert";
    if (isStaff(principal)) return "staff";
  }
  throw notFound("SESSION_NOT_FOUND", "no such session");
}

export const userIdOf = (principal: Principal): string => {
  if (principal.kind !== "user")
    throw permissionDenied("PERMISSION_DENIED", "only people take part in sessions");
  return principal.userId;
};

/** Billing answered and did nothing (as opposed to a call whose outcome is unknown). */
export const isRefusal = (error: unknown) =>
  isAppError(error) &&
  !["cancelled", "deadline_exceeded", "aborted", "internal", "unavailable"].includes(error.kind);

export function requireText(value: string, field: string, max: number, required = true) {
  if (required && value.length === 0) throw invalidArgument("VALIDATION_FAILED", `${field} is required`);
  if (value.length > max)
    throw invalidArgument("MESSAGE_TOO_LARGE", `${field} is longer than ${max} characters`, {
      metadata: { field, limit: String(max) },
    });
}

export type Core = ReturnType<typeof createCore>;

/** What every use case shares: transactions that publish after commit, transitions, visibility. */
export function createCore(deps: SessionsDeps) {
  const { store, experts, now, rules, log } = deps;

  /**
   * Runs a transaction, then publishes the stored events it appended, in seq order. Work that
   * is `oneStatement` (its events with no notifications to queue) runs without a transaction;
   * an event of such work that would queue one fails the call, a caller's mistake: the
   * notification would be written apart from its event.
   */
  async function write<T>(work: (tx: SessionTx, emit: Emit) => Promise<T>, { oneStatement = false } = {}) {
    const events: SessionEvent[] = [];
    const result = await (oneStatement ? store.statement : store.transaction)((tx) => {
      const stored = async (event: SessionEvent) => {
        const intents = intentsFor(event.body);
        if (oneStatement && intents.length > 0)
          throw new Error(
            `a one-statement write cannot queue the notifications of a ${event.body.type} event`,
          );
        events.push(event);
        await tx.enqueueNotifications(intents);
      };
      const append = async (sessionId: string, body: EventBody) =>
        stored(await tx.appendEvent(sessionId, now(), body));
      return work(tx, Object.assign(append, { stored }));
    });
    // After commit and fire-and-forget: a slow or dead bus never delays the write.
    for (const event of events) deps.feed.publish(event);
    return result;
  }

  const estimateWait = (position: number) => position * rules.averageSessionSeconds;

  /**
   * Appends a queue_position event to every waiting request of an expert. It locks those
   * rows, so callers take the expert's lock first: every transaction that touches several
   * of one expert's rows then queues on that lock instead of deadlocking.
   */
  async function pushQueuePositions(tx: SessionTx, expertId: string, emit: Emit) {
    const queue = await tx.waitingQueue(expertId);
    for (const [index, entry] of queue.entries())
      await emit(entry.id, {
        type: "queue_position",
        position: index + 1,
        estimatedWaitSeconds: estimateWait(index + 1),
      });
    return queue;
  }

  async function transition(
    tx: SessionTx,
    emit: Emit,
    session: SessionRecord,
    to: SessionStatus,
    patch: SessionPatch,
  ): Promise<SessionRecord> {
    assertTransition(session.status, to);
    const updated = await tx.updateSession(session.id, { ...patch, status: to });
    await emit(session.id, { type: "status_changed", session: updated });
    return updated;
  }

  /** Ends an active session inside the caller's transaction; settlement follows after commit. */
  const endInTx = (tx: SessionTx, emit: Emit, session: SessionRecord, reason: EndReason) =>
    transition(tx, emit, session, "ended", {
      endReason: reason,
      endedAt: now(),
      nextChargeAt: null,
      pausedAt: null,
      settlementPending: true,
    });

  async function visible(principal: Principal, sessionId: string) {
    const session = await store.getSession(sessionId);
    const role = roleIn(principal, session);
    return { session: session!, role };
  }

  async function reportLoad(expertId: string) {
    await experts
      .reportExpertLoad(expertId, await store.countActive(expertId))
      .catch((error: unknown) => log.warn({ err: error, expertId }, "expert load report failed"));
  }

  /** Typing, call signals: published live only, with seq 0. */
  function publishEphemeral(sessionId: string, body: EventBody) {
    deps.feed.publish({ seq: 0n, sessionId, occurredAt: now(), body });
  }

  /** The end of a claim taken now. */
  const leaseUntil = (at: Date) => new Date(at.getTime() + rules.leaseSeconds * 1000);

  /**
   * The hold a request places: the same request every time it is made for that session, so
   * billing answers a second asking with the hold the first placed (its key is the session's).
   */
  const holdRequest = (session: SessionRecord) => ({
    userId: session.userId,
    amountMinor: session.rateMinor * BigInt(rules.minMinutes),
    currency: session.currency,
    requestId: `hold:${session.id}`,
    reference: `session:${session.id}`,
    ttlSeconds: rules.holdTtlSeconds,
  });

  return {
    ...deps,
    write,
    estimateWait,
    pushQueuePositions,
    transition,
    endInTx,
    visible,
    reportLoad,
    publishEphemeral,
    leaseUntil,
    holdRequest,
  };
}
