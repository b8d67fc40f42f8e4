import { isStaff, type Principal } from "@parley/kit/auth";
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isAppError,
  notFound,
  permissionDenied,
} from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import type { SessionPatch, SessionStore, SessionTx } from "../persistence/store";
import {
  assertTransition,
  type EndReason,
  type EventBody,
  type MessageKind,
  type MessageRecord,
  type ReceiptRecord,
  type ReviewRecord,
  type SessionEvent,
  type SessionKind,
  type SessionRecord,
  type SessionStatus,
  type SignalKind,
} from "./model";
import type { BillingPort, Clock, ExpertDirectory } from "./ports";

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
  /** Used for queue wait estimates. */
  averageSessionSeconds: number;
  /** The billed unit: 60 in production; short in demos and end-to-end tests. */
  minuteSeconds: number;
}

export const DEFAULT_RULES: SessionRules = {
  minMinutes: 5,
  requestTtlSeconds: 300,
  holdTtlSeconds: 6 * 3600,
  pauseGraceSeconds: 15,
  disconnectTimeoutSeconds: 120,
  averageSessionSeconds: 600,
  minuteSeconds: 60,
};

const LIMITS = {
  textChars: 4000,
  attachmentUrlChars: 2048,
  clientMsgIdChars: 128,
  signalPayloadBytes: 16 * 1024,
  reviewChars: 2000,
  requestIdChars: 128,
};

export interface SessionsDeps {
  store: SessionStore;
  billing: BillingPort;
  experts: ExpertDirectory;
  /** Fans an event out to every watcher of its session (the bus). */
  publish: (event: SessionEvent) => Promise<void>;
  now: Clock;
  rules: SessionRules;
  log: Logger;
}

export type Sessions = ReturnType<typeof createSessions>;

type Role = "user" | "expert" | "staff";

/** The caller's relation to a session; people unrelated to it learn nothing (NOT_FOUND). */
function roleIn(principal: Principal, session: SessionRecord | undefined): Role {
  if (session && principal.kind === "user") {
    if (principal.userId === session.userId) return "user";
    if (principal.userId === session.expertId) return "expert";
    if (isStaff(principal)) return "staff";
  }
  throw notFound("SESSION_NOT_FOUND", "no such session");
}

const userIdOf = (principal: Principal): string => {
  if (principal.kind !== "user")
    throw permissionDenied("PERMISSION_DENIED", "only people take part in sessions");
  return principal.userId;
};

/** Billing will never take this minute as asked (not a passing trouble such as an outage or our own credentials). */
const isChargeRefusal = (error: unknown) =>
  isAppError(error) &&
  ["failed_precondition", "invalid_argument", "not_found", "already_exists"].includes(error.kind);
/** Billing answered and did nothing (as opposed to a call whose outcome is unknown). */
const isRefusal = (error: unknown) =>
  isAppError(error) &&
  !["cancelled", "deadline_exceeded", "aborted", "internal", "unavailable"].includes(error.kind);

export function createSessions(deps: SessionsDeps) {
  const { store, billing, experts, now, rules, log } = deps;

  /** Runs a transaction, then publishes the stored events it appended, in seq order. */
  async function write<T>(
    work: (tx: SessionTx, emit: (sessionId: string, body: EventBody) => Promise<void>) => Promise<T>,
  ) {
    const events: SessionEvent[] = [];
    const result = await store.transaction((tx) =>
      work(tx, async (sessionId, body) => {
        events.push(await tx.appendEvent(sessionId, now(), body));
      }),
    );
    for (const event of events)
      await deps.publish(event).catch((error: unknown) => log.warn({ err: error }, "publish failed"));
    return result;
  }

  const estimateWait = (position: number) => position * rules.averageSessionSeconds;

  /**
   * Appends a queue_position event to every waiting request of an expert. It locks those
   * rows, so callers take the expert's lock first: every transaction that touches several
   * of one expert's rows then queues on that lock instead of deadlocking.
   */
  async function pushQueuePositions(
    tx: SessionTx,
    expertId: string,
    emit: (id: string, body: EventBody) => Promise<void>,
  ) {
    const queue = await tx.waitingQueue(expertId);
    for (const [index, entry] of queue.entries())
      await emit(entry.id, {
        type: "queue_position",
        position: index + 1,
        estimatedWaitSeconds: estimateWait(index + 1),
      });
  }

  async function queuePosition(session: SessionRecord): Promise<number> {
    if (session.status !== "waiting") return 0;
    const queue = await store.waitingQueue(session.expertId);
    return queue.findIndex((entry) => entry.id === session.id) + 1;
  }

  async function transition(
    tx: SessionTx,
    emit: (id: string, body: EventBody) => Promise<void>,
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
  const endInTx = (
    tx: SessionTx,
    emit: (id: string, body: EventBody) => Promise<void>,
    session: SessionRecord,
    reason: EndReason,
  ) =>
    transition(tx, emit, session, "ended", {
      endReason: reason,
      endedAt: now(),
      nextChargeAt: null,
      pausedAt: null,
      settlementPending: true,
    });

  /**
   * Charges the next minute of a locked, active session (billing key: session, minute) and
   * advances the counter only after billing answered; ends the session when the minute
   * cannot be paid. Any other failure throws before anything was written.
   */
  async function chargeNextMinute(
    tx: SessionTx,
    emit: (id: string, body: EventBody) => Promise<void>,
    session: SessionRecord,
    at: Date,
  ): Promise<{ outcome: "charged" | "ended"; session: SessionRecord }> {
    const minute = session.minutesCharged + 1;
    let minutesLeft: bigint;
    try {
      ({ minutesLeft } = await billing.charge({
        sessionId: session.id,
        minute,
        payerUserId: session.userId,
        payeeUserId: session.expertId,
        amountMinor: session.rateMinor,
        currency: session.currency,
        holdId: session.holdId,
      }));
    } catch (error) {
      if (isAppError(error, "INSUFFICIENT_FUNDS"))
        return { outcome: "ended", session: await endInTx(tx, emit, session, "insufficient_funds") };
      // Retrying a minute billing refuses outright would serve it unpaid forever (and keep the
      // row first in every worker's batch): the session stops instead.
      if (!isChargeRefusal(error)) throw error;
      log.error(
        { err: error, sessionId: session.id, minute },
        "billing refused a minute; ending the session",
      );
      return { outcome: "ended", session: await endInTx(tx, emit, session, "billing_refused") };
    }
    // Minute n+1 is due one minute after minute n was due (shifted by any pause).
    const nextChargeAt = new Date((session.nextChargeAt ?? at).getTime() + rules.minuteSeconds * 1000);
    const updated = await tx.updateSession(session.id, { minutesCharged: minute, minutesLeft, nextChargeAt });
    await emit(session.id, {
      type: "minute_charged",
      minute,
      amountMinor: session.rateMinor,
      currency: session.currency,
      minutesLeft,
    });
    if (minutesLeft <= 2n) await emit(session.id, { type: "low_balance", minutesLeft });
    return { outcome: "charged", session: updated };
  }

  /** Releases or settles a stopped session's money once; safe to call again (billing is idempotent). */
  async function settle(sessionId: string): Promise<SessionRecord | undefined> {
    return store.transaction(async (tx) => {
      const session = await tx.lockSession(sessionId);
      if (!session?.settlementPending) return session;
      return settleLocked(tx, session);
    });
  }

  async function settleLocked(tx: SessionTx, session: SessionRecord): Promise<SessionRecord> {
    if (session.status === "ended") {
      const settleWith = (holdId: string | null) =>
        billing.settleSession({
          sessionId: session.id,
          payerUserId: session.userId,
          payeeUserId: session.expertId,
          holdId,
          rateMinor: session.rateMinor,
          currency: session.currency,
          kind: session.kind,
        });
      // A hold billing no longer knows has nothing left to release: invoice without it.
      const { invoiceId } = await settleWith(session.holdId).catch((error: unknown) => {
        if (session.holdId && isAppError(error, "HOLD_NOT_FOUND")) return settleWith(null);
        throw error;
      });
      return tx.updateSession(session.id, { settlementPending: false, invoiceId });
    }
    if (session.holdId)
      await billing.releaseHold(session.holdId, `release:${session.id}`).catch((error: unknown) => {
        // A hold that expired meanwhile has already given its funds back.
        if (!isAppError(error, "HOLD_NOT_OPEN")) throw error;
      });
    return tx.updateSession(session.id, { settlementPending: false });
  }

  async function afterStop(session: SessionRecord) {
    await settle(session.id).catch((error: unknown) =>
      log.warn({ err: error, sessionId: session.id }, "settlement failed; the worker retries"),
    );
    await reportLoad(session.expertId);
  }

  async function reportLoad(expertId: string) {
    await experts
      .reportExpertLoad(expertId, await store.countActive(expertId))
      .catch((error: unknown) => log.warn({ err: error, expertId }, "expert load report failed"));
  }

  async function visible(principal: Principal, sessionId: string) {
    const session = await store.getSession(sessionId);
    const role = roleIn(principal, session);
    return { session: session!, role };
  }

  function requireText(value: string, field: string, max: number, required = true) {
    if (required && value.length === 0) throw invalidArgument("VALIDATION_FAILED", `${field} is required`);
    if (value.length > max)
      throw invalidArgument("MESSAGE_TOO_LARGE", `${field} is longer than ${max} characters`, {
        metadata: { field, limit: String(max) },
      });
  }

  return {
    async requestSession(
      principal: Principal,
      input: { expertId: string; kind: SessionKind; requestId: string },
    ) {
      const userId = userIdOf(principal);
      requireText(input.requestId, "request_id", LIMITS.requestIdChars);
      if (input.expertId === userId)
        throw invalidArgument("VALIDATION_FAILED", "you cannot consult yourself");
      let session = await store.findByRequestId(userId, input.requestId);
      if (session && (session.expertId !== input.expertId || session.kind !== input.kind))
        throw alreadyExists("IDEMPOTENCY_KEY_REUSED", "request_id was used for another request");
      if (!session) {
        const expert = await experts.getExpert(input.expertId);
        if (!expert) throw notFound("EXPERT_NOT_FOUND", "no such expert");
        if (expert.availability === "offline" || expert.availability === "unavailable")
          throw failedPrecondition("EXPERT_UNAVAILABLE", "the expert is not taking requests", {
            metadata: { availability: expert.availability },
          });
        const rateMinor = input.kind === "chat" ? expert.chatRateMinor : expert.callRateMinor;
        if (rateMinor <= 0n)
          throw failedPrecondition("KIND_NOT_OFFERED", `the expert does not offer ${input.kind} sessions`);
        const requestedAt = now();
        session = {
          id: newId(),
          userId,
          expertId: input.expertId,
          kind: input.kind,
          status: "requested",
          requestId: input.requestId,
          rateMinor,
          currency: expert.currency,
          holdId: null,
          invoiceId: null,
          minutesCharged: 0,
          minutesLeft: 0n,
          endReason: null,
          requestedAt,
          acceptedAt: null,
          startedAt: null,
          endedAt: null,
          expiresAt: new Date(requestedAt.getTime() + rules.requestTtlSeconds * 1000),
          nextChargeAt: null,
          pausedAt: null,
          userOnline: false,
          expertOnline: false,
          awaySince: null,
          settlementPending: false,
          lastSeq: 0n,
          queuedAt: null,
        };
        const created = session;
        session = await store
          .transaction((tx) => tx.insertSession(created))
          .then(() => created)
          .catch(async (error: unknown) => {
            if ((error as { code?: string }).code !== "23505") throw error;
            // A concurrent retry of this same request got there first: answer as it does.
            const first = await store.findByRequestId(userId, input.requestId);
            if (first?.expertId === input.expertId && first.kind === input.kind) return first;
            throw alreadyExists("OPEN_REQUEST_EXISTS", "you already have an open request with this expert");
          });
      }
      if (session.status === "requested") {
        const pending = session;
        let holdId: string;
        try {
          ({ holdId } = await billing.placeHold({
            userId,
            amountMinor: pending.rateMinor * BigInt(rules.minMinutes),
            currency: pending.currency,
            requestId: `hold:${pending.id}`,
            reference: `session:${pending.id}`,
            ttlSeconds: rules.holdTtlSeconds,
          }));
        } catch (error) {
          // Refused: a request without its hold never existed and leaves no open request behind.
          // Outcome unknown: the request stays, so a retry with this request_id places the hold
          // under the same key and gets the same hold back instead of a second one.
          if (isRefusal(error)) await store.transaction((tx) => tx.deleteSession(pending.id));
          throw error;
        }
        const settled = await write(async (tx, emit) => {
          await tx.lockExpert(pending.expertId);
          const locked = await tx.lockSession(pending.id);
          // Moved on meanwhile: by a concurrent retry that recorded this same hold (in use), or
          // cancelled or expired before any hold was recorded (then nothing draws on it).
          if (locked?.status !== "requested")
            return { session: locked ?? pending, holdUnused: locked?.holdId !== holdId };
          const waiting = await transition(tx, emit, locked, "waiting", { holdId, queuedAt: now() });
          await pushQueuePositions(tx, waiting.expertId, emit);
          return { session: waiting, holdUnused: false };
        });
        if (settled.holdUnused)
          await billing
            .releaseHold(holdId, `release:${pending.id}`)
            .catch((error: unknown) =>
              log.warn({ err: error, holdId }, "releasing an unused hold failed; it expires by itself"),
            );
        session = settled.session;
      }
      const position = await queuePosition(session);
      return { session, queuePosition: position, estimatedWaitSeconds: estimateWait(position) };
    },

    async acceptSession(principal: Principal, sessionId: string) {
      const { session, role } = await visible(principal, sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert may accept");
      assertTransition(session.status, "active");
      const expert = await experts.getExpert(session.expertId);
      if (!expert) throw notFound("EXPERT_NOT_FOUND", "the expert no longer exists");
      const accepted = await write(async (tx, emit) => {
        await tx.lockExpert(session.expertId);
        const locked = (await tx.lockSession(sessionId))!;
        assertTransition(locked.status, "active");
        const active = await tx.countActive(locked.expertId);
        if (active >= expert.maxConcurrentSessions)
          throw failedPrecondition("EXPERT_AT_CAPACITY", "finish a session before accepting another", {
            metadata: { max_concurrent_sessions: String(expert.maxConcurrentSessions) },
          });
        const at = now();
        const rateMinor = locked.kind === "chat" ? expert.chatRateMinor : expert.callRateMinor;
        if (rateMinor <= 0n)
          throw failedPrecondition("KIND_NOT_OFFERED", `set a ${locked.kind} rate before accepting`);
        // Chat meters from acceptance; a call only once both sides are connected (ReportPresence).
        const startsNow = locked.kind === "chat" || (locked.userOnline && locked.expertOnline);
        const updated = await transition(tx, emit, locked, "active", {
          acceptedAt: at,
          rateMinor,
          startedAt: startsNow ? at : null,
          nextChargeAt: startsNow ? at : null,
        });
        await pushQueuePositions(tx, locked.expertId, emit);
        return updated;
      });
      await reportLoad(accepted.expertId);
      return accepted;
    },

    async declineSession(principal: Principal, sessionId: string) {
      const { session, role } = await visible(principal, sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert may decline");
      return stopWaiting(session, "declined", "declined");
    },

    async cancelSession(principal: Principal, sessionId: string) {
      const { session, role } = await visible(principal, sessionId);
      if (role !== "user") throw permissionDenied("NOT_SESSION_USER", "only the session's user may cancel");
      return stopWaiting(session, "cancelled", "cancelled");
    },

    async endSession(principal: Principal, sessionId: string) {
      const { role } = await visible(principal, sessionId);
      const reason: EndReason =
        role === "user" ? "user_ended" : role === "expert" ? "expert_ended" : "operator_ended";
      const ended = await write(async (tx, emit) => {
        let locked = (await tx.lockSession(sessionId))!;
        assertTransition(locked.status, "ended");
        // Every started minute is paid: minutes the worker has not reached yet are charged now.
        const at = now();
        while (
          locked.status === "active" &&
          !locked.pausedAt &&
          locked.nextChargeAt &&
          locked.nextChargeAt <= at
        ) {
          // Billing unreachable: the end fails and is retried, rather than giving the due minutes away.
          locked = (await chargeNextMinute(tx, emit, locked, at)).session;
        }
        return locked.status === "ended" ? locked : endInTx(tx, emit, locked, reason);
      });
      await afterStop(ended);
      return (await store.getSession(sessionId))!;
    },

    async getSession(principal: Principal, sessionId: string) {
      const { session } = await visible(principal, sessionId);
      return { session, queuePosition: await queuePosition(session) };
    },

    async listSessions(
      principal: Principal,
      filter: {
        participantId: string;
        statuses: SessionStatus[];
        kind?: SessionKind;
        asExpert?: boolean;
        beforeId?: string;
        limit: number;
      },
    ) {
      const callerId = userIdOf(principal);
      const participantId = filter.participantId || callerId;
      if (participantId !== callerId && !isStaff(principal))
        throw permissionDenied("PERMISSION_DENIED", "you may only list your own sessions");
      return store.listSessions({ ...filter, participantId });
    },

    async getQueue(principal: Principal, expertId: string) {
      const callerId = userIdOf(principal);
      if (callerId !== expertId && !isStaff(principal))
        throw permissionDenied("NOT_QUEUE_OWNER", "only the expert sees their queue");
      const queue = await store.waitingQueue(expertId);
      return queue.map((session, index) => ({
        session,
        position: index + 1,
        estimatedWaitSeconds: estimateWait(index + 1),
      }));
    },

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
        if ((error as { code?: string }).code !== "23505") throw error;
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
      await deps.publish(ephemeral(sessionId, { type: "typing", userId: userIdOf(principal), typing }));
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
      await deps.publish(
        ephemeral(sessionId, { type: "call_signal", fromUserId: userIdOf(principal), kind, payload }),
      );
    },

    async submitReview(principal: Principal, input: { sessionId: string; rating: number; text: string }) {
      const { session, role } = await visible(principal, input.sessionId);
      if (role !== "user") throw permissionDenied("NOT_SESSION_USER", "only the session's user reviews it");
      if (session.status !== "ended")
        throw failedPrecondition("SESSION_NOT_ENDED", "review a session once it has ended");
      if (!Number.isInteger(input.rating) || input.rating < 1 || input.rating > 5)
        throw invalidArgument("VALIDATION_FAILED", "rating must be 1 to 5");
      requireText(input.text, "text", LIMITS.reviewChars, false);
      const review: ReviewRecord = {
        sessionId: session.id,
        expertId: session.expertId,
        userId: session.userId,
        rating: input.rating,
        text: input.text,
        createdAt: now(),
      };
      const inserted = await store.transaction((tx) => tx.insertReview(review));
      if (!inserted) throw alreadyExists("REVIEW_EXISTS", "this session has already been reviewed");
      await reportRating(review);
      return review;
    },

    /** Presence from the edge: pauses/resumes metering and starts a call's clock. */
    async reportPresence(userId: string, sessionId: string | undefined, online: boolean) {
      await experts
        .reportPresence(userId, online)
        .catch((error: unknown) => log.warn({ err: error, userId }, "presence report to user failed"));
      const touched = await write(async (tx, emit) => {
        const sessions = await tx.lockActiveFor(userId, sessionId || undefined);
        const at = now();
        for (const session of sessions) {
          const side = session.userId === userId ? "userOnline" : "expertOnline";
          const patch: SessionPatch = { [side]: online };
          const userOnline = side === "userOnline" ? online : session.userOnline;
          const expertOnline = side === "expertOnline" ? online : session.expertOnline;
          if (online) {
            if (userOnline && expertOnline) patch.awaySince = null;
            if (session.pausedAt && userOnline && expertOnline) {
              // Resume: the schedule moves by the paused time, so nobody pays for dead air.
              patch.pausedAt = null;
              if (session.nextChargeAt)
                patch.nextChargeAt = new Date(
                  session.nextChargeAt.getTime() + (at.getTime() - session.pausedAt.getTime()),
                );
            }
            if (!session.startedAt && userOnline && expertOnline) {
              patch.startedAt = at;
              patch.nextChargeAt = at;
            }
          } else if (!session.awaySince) {
            patch.awaySince = at;
          }
          const updated = await tx.updateSession(session.id, patch);
          if (patch.startedAt) await emit(session.id, { type: "status_changed", session: updated });
        }
        return sessions.length;
      });
      return touched;
    },

    /** Watch support: events after a seq (bounded or not), for replay and gap filling. */
    eventsBetween: (sessionId: string, afterSeq: bigint, uptoSeq?: bigint) =>
      store.eventsBetween(sessionId, afterSeq, uptoSeq),
    visible,

    settleLocked,
    chargeNextMinute,
    transition,
    endInTx,
    write,
    pushQueuePositions,
    reportLoad,
    reportRating,
  };

  async function reportRating(review: ReviewRecord) {
    try {
      await experts.updateRatingSummary(review.expertId, review.sessionId, review.rating);
      await store.markRatingReported(review.sessionId);
    } catch (error) {
      log.warn({ err: error, sessionId: review.sessionId }, "rating report failed; the worker retries");
    }
  }

  async function stopWaiting(session: SessionRecord, to: "declined" | "cancelled", reason: EndReason) {
    const sessionId = session.id;
    const stopped = await write(async (tx, emit) => {
      await tx.lockExpert(session.expertId);
      const locked = (await tx.lockSession(sessionId))!;
      const updated = await transition(tx, emit, locked, to, {
        endReason: reason,
        endedAt: now(),
        settlementPending: true,
      });
      await pushQueuePositions(tx, locked.expertId, emit);
      return updated;
    });
    await afterStop(stopped);
    return (await store.getSession(sessionId))!;
  }

  function ephemeral(sessionId: string, body: EventBody): SessionEvent {
    return { seq: 0n, sessionId, occurredAt: now(), body };
  }
}
