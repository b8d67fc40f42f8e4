import { isStaff, type Principal } from "@parley/kit/auth";
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isAppError,
  notFound,
  permissionDenied,
} from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { type Core, isRefusal, LIMITS, requireText, userIdOf } from "./core";
import type { Metering } from "./metering";
import { minuteStarted } from "./metering";
import {
  assertTransition,
  DuplicateRecord,
  type EndReason,
  type SessionKind,
  type SessionRecord,
  type SessionStatus,
} from "./model";
import { requestWaiting } from "./notifications";
import { chargedUntil } from "./presence";
import type { Settlement } from "./settlement";

/** EndSession retries this often when metering claims the session at the same moment. */
const END_ATTEMPTS = 3;
/** Open sessions of one person read at a time when staff stop them all (each stop costs far more than a read). */
const PERSON_SESSIONS_PAGE = 25;

/** Request, queue, accept, decline, cancel, end; reads of sessions and queues. */
export function lifecycle(core: Core, metering: Metering, settlement: Settlement) {
  const { store, billing, experts, now, rules, log, write, transition, pushQueuePositions, estimateWait } =
    core;

  async function queuePosition(session: SessionRecord): Promise<number> {
    if (session.status !== "waiting") return 0;
    const queue = await store.waitingQueue(session.expertId);
    return queue.findIndex((entry) => entry.id === session.id) + 1;
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
    await settlement.afterStop(stopped);
    return (await store.getSession(sessionId))!;
  }

  /**
   * Ends an active session after charging every started minute. The session is claimed like
   * metering claims it (taking over any worker's claim, whose late result is then refused),
   * the minutes are charged with no transaction open, and it ends under that same claim.
   */
  async function endActive(sessionId: string, reason: EndReason): Promise<SessionRecord> {
    for (let attempt = 1; attempt <= END_ATTEMPTS; attempt++) {
      const at = now();
      const step = await write(async (tx, emit) => {
        const locked = (await tx.lockSession(sessionId))!;
        assertTransition(locked.status, "ended");
        // A side gone silent (its minutes waiting) pays what its offline report would have left.
        const until = await chargedUntil(tx, locked, rules, at);
        const claim = (await tx.claimSession(sessionId, core.leaseUntil(at)))!;
        if (claim.unresolved || minuteStarted(claim.session, until)) return { claim, until };
        // Nothing to charge: it ends in this same transaction.
        const [ended] = await tx.endClaimed([{ sessionId, epoch: claim.epoch, reason }], at);
        await emit(sessionId, { type: "status_changed", session: ended! });
        return { ended: ended! };
      });
      if (step.ended) return step.ended;
      // Billing unreachable: the end fails and is retried, rather than giving the due minutes away.
      const charged = await metering.chargeStarted(step.claim, step.until);
      if (charged.outcome === "ended") return charged.session;
      if (charged.outcome === "lost") continue;
      const ended = await write(async (tx, emit) => {
        const [stopped] = await tx.endClaimed([{ sessionId, epoch: step.claim.epoch, reason }], now());
        if (stopped) await emit(sessionId, { type: "status_changed", session: stopped });
        return stopped;
      });
      if (ended) return ended;
    }
    throw aborted("SESSION_BUSY", "the session changed while it was being ended; try again");
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
        // A pair where either blocked the other does not meet: to the requester the expert is not there.
        if (await store.blockedBetween(userId, input.expertId))
          throw notFound("EXPERT_NOT_FOUND", "no such expert");
        const expert = await experts.getExpert(input.expertId);
        if (!expert) throw notFound("EXPERT_NOT_FOUND", "no such expert");
        if (expert.availability === "offline" || expert.availability === "unavailable")
          throw failedPrecondition("EXPERT_UNAVAILABLE", "the expert is not taking requests", {
            metadata: { availability: expert.availability },
          });
        const rateMinor = input.kind === "chat" ? expert.chatRateMinor : expert.callRateMinor;
        if (rateMinor <= 0n)
          throw failedPrecondition("KIND_NOT_OFFERED", `the expert does not offer ${input.kind} sessions`);
        // Before any money is held. Requests racing past it at once can overfill the queue a
        // little; what it bounds is its growth (every change rewrites every position).
        if ((await store.queueLength(input.expertId)) >= rules.maxQueueLength)
          throw failedPrecondition("QUEUE_FULL", "the expert's queue is full; try again later", {
            metadata: { max_queue_length: String(rules.maxQueueLength) },
          });
        const requestedAt = now();
        const created: SessionRecord = {
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
        session = await store
          .transaction((tx) => tx.insertSession(created))
          .then(() => created)
          .catch(async (error: unknown) => {
            if (!(error instanceof DuplicateRecord)) throw error;
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
          ({ holdId } = await billing.placeHold(core.holdRequest(pending)));
        } catch (error) {
          // Refused: a request without its hold never existed and leaves no open request behind
          // (unless it was cancelled or expired meanwhile: then it stays, as it ended).
          // Outcome unknown: the request stays, so a retry with this request_id places the hold
          // under the same key and gets the same hold back instead of a second one.
          if (isRefusal(error)) await store.transaction((tx) => tx.deleteRequest(pending.id));
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
          const queue = await pushQueuePositions(tx, waiting.expertId, emit);
          await tx.enqueueNotifications([
            requestWaiting(waiting, queue.findIndex((entry) => entry.id === waiting.id) + 1),
          ]);
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
      const { session, role } = await core.visible(principal, sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert may accept");
      assertTransition(session.status, "active");
      if (await store.blockedBetween(session.userId, session.expertId))
        throw failedPrecondition("PARTICIPANT_BLOCKED", "requests between these two people are refused");
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
        // The session keeps the rate and currency the person saw when asking (its hold was sized
        // by them): a change of the expert's rates since applies to later requests only.
        if ((locked.kind === "chat" ? expert.chatRateMinor : expert.callRateMinor) <= 0n)
          throw failedPrecondition("KIND_NOT_OFFERED", `set a ${locked.kind} rate before accepting`);
        // Chat meters from acceptance, unless its user had the session open and left it (gave up
        // waiting: ReportPresence, kept from the request on); a call, and such a chat, once both
        // sides are connected. One they never both join ends, charging nothing.
        const userLeft = locked.awaySince !== null && !locked.userOnline;
        const startsNow = (locked.kind === "chat" && !userLeft) || (locked.userOnline && locked.expertOnline);
        const updated = await transition(tx, emit, locked, "active", {
          acceptedAt: at,
          startedAt: startsNow ? at : null,
          nextChargeAt: startsNow ? at : null,
          awaySince: null,
        });
        await pushQueuePositions(tx, locked.expertId, emit);
        return updated;
      });
      await core.reportLoad(accepted.expertId);
      return accepted;
    },

    async declineSession(principal: Principal, sessionId: string) {
      const { session, role } = await core.visible(principal, sessionId);
      if (role !== "expert")
        throw permissionDenied("NOT_SESSION_EXPERT", "only the session's expert may decline");
      return stopWaiting(session, "declined", "declined");
    },

    async cancelSession(principal: Principal, sessionId: string) {
      const { session, role } = await core.visible(principal, sessionId);
      if (role !== "user") throw permissionDenied("NOT_SESSION_USER", "only the session's user may cancel");
      return stopWaiting(session, "cancelled", "cancelled");
    },

    async endSession(principal: Principal, sessionId: string) {
      const { session, role } = await core.visible(principal, sessionId);
      const reason: EndReason =
        role === "user" ? "user_ended" : role === "expert" ? "expert_ended" : "operator_ended";
      // A retry (its answer lost; staff told AUDIT_UNAVAILABLE, so that the retry is audited)
      // gets the session it ended.
      if (session.status === "ended" && session.endReason === reason) return session;
      const ended = await endActive(sessionId, reason);
      await settlement.afterStop(ended);
      return (await store.getSession(sessionId))!;
    },

    /**
     * Stops every open session of a person (staff suspended them, or froze the wallet they pay
     * from): requests and queued ones are cancelled and their holds released, active ones end
     * after their started minutes are charged, as any end does, and are settled. Sessions that
     * stop meanwhile are skipped; a second call finds nothing open.
     */
    async endPersonSessions(
      personId: string,
      reason: "account_suspended" | "wallet_frozen",
      asPayerOnly: boolean,
    ) {
      const stopped: SessionRecord[] = [];
      const stop = async (session: SessionRecord) => {
        if (session.status === "active") await settlement.afterStop(await endActive(session.id, reason));
        else await stopWaiting(session, "cancelled", reason);
      };
      // Page after page of what is still open: each stopped session leaves the list, so the next
      // page starts where this one ended. A page with nothing new in it ends the loop.
      const seen = new Set<string>();
      for (;;) {
        const open = (
          await store.listSessions({
            participantId: personId,
            statuses: ["requested", "waiting", "active"],
            ...(asPayerOnly ? { asExpert: false } : {}),
            limit: PERSON_SESSIONS_PAGE,
          })
        ).filter((session) => !seen.has(session.id));
        if (open.length === 0) break;
        for (const session of open) {
          seen.add(session.id);
          try {
            await stop(session);
          } catch (error) {
            if (!isAppError(error, "INVALID_SESSION_TRANSITION")) throw error;
            // Accepted meanwhile: it is ended instead. Anything else stopped by itself.
            const now = await store.getSession(session.id);
            if (now?.status !== "active") continue;
            await stop(now);
          }
          stopped.push((await store.getSession(session.id))!);
        }
      }
      return stopped;
    },

    /** The sessions active now, newest first (the back office). */
    listLive: (beforeId: string | undefined, limit: number) => store.listLive(beforeId, limit),

    /**
     * Closes whatever is open between two people (one blocked the other): waiting requests are
     * cancelled and active sessions ended, both with the reason `blocked`, and settled. One that
     * could not be closed (billing down, say) fails the call, to be retried: the block stands,
     * and a retry closes what is still open.
     */
    async closeBetween(a: string, b: string) {
      let failed: unknown;
      // A request accepted while it was being cancelled is found active on the next pass.
      for (let pass = 0; pass < 3; pass++) {
        const open = await store.openSessionsBetween(a, b);
        if (open.length === 0) return;
        failed = undefined;
        for (const session of open) {
          try {
            if (session.status === "active")
              await settlement.afterStop(await endActive(session.id, "blocked"));
            else await stopWaiting(session, "cancelled", "blocked");
          } catch (error) {
            failed = error;
            log.warn(
              { err: error, sessionId: session.id },
              "closing a session between blocked people failed",
            );
          }
        }
      }
      if (failed) throw failed;
    },

    async getSession(principal: Principal, sessionId: string) {
      const { session } = await core.visible(principal, sessionId);
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
  };
}
