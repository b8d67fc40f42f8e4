import type { Core, Emit, SessionRules } from "./core";
import type { SessionRecord } from "./model";
import type { SessionPatch, SessionSide, SessionTx } from "./ports";

/**
 * A connected side's heartbeat is written down once its last written one is this old: a small
 * write per side every 20–30 s, not one per heartbeat.
 */
export const SEEN_EVERY_MS = 20_000;
/** Clients send a presence heartbeat at least this often (the edge's protocol). */
const HEARTBEAT_SECONDS = 30;

type Side = "user" | "expert";
type PresenceChange = { sessionId: string; userId: string; online: boolean; at: Date };

/**
 * Minutes of sessions with a side not heard from since this time wait (for its next heartbeat,
 * or for the presence timeout to pause them). A connected side's last written heartbeat is at
 * most SEEN_EVERY_MS + HEARTBEAT_SECONDS (50 s) old; the timeout is at least 90 s.
 */
export const unheardSince = (rules: SessionRules, at: Date) =>
  rules.presenceTimeoutSeconds === 0
    ? new Date(0)
    : new Date(at.getTime() - (rules.presenceTimeoutSeconds - HEARTBEAT_SECONDS) * 1000);

const sameValue = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/** Whether writing `patch` would change the session's row. */
const changesAnything = (session: SessionRecord, patch: SessionPatch) =>
  Object.entries(patch).some(([key, value]) => !sameValue(session[key as keyof SessionPatch], value));

const sideKey = (side: SessionSide) => `${side.sessionId}/${side.userId}`;

/** The earlier of a known time and `at`: a side gone since earlier than the other was away first. */
const earliest = (known: Date | null, at: Date) => (known && known <= at ? known : at);

/**
 * Until when a session ended at `at` is charged: `at`, or, when a side still marked connected
 * has not been heard from since `unheardSince` (its minutes wait: gone, maybe), the end of its
 * pause grace after its last heartbeat, as if its offline report had come then.
 */
export async function chargedUntil(tx: SessionTx, session: SessionRecord, rules: SessionRules, at: Date) {
  if (rules.presenceTimeoutSeconds === 0) return at;
  const connected = [
    ...(session.userOnline ? [session.userId] : []),
    ...(session.expertOnline ? [session.expertId] : []),
  ].map((userId) => ({ sessionId: session.id, userId }));
  const seen = await tx.lastSeen(connected);
  const unheard = unheardSince(rules, at);
  let until = at;
  for (const last of seen.values()) {
    if (last > unheard) continue;
    const from = session.startedAt && session.startedAt > last ? session.startedAt : last;
    const graceEnd = new Date(from.getTime() + rules.pauseGraceSeconds * 1000);
    if (graceEnd < until) until = graceEnd;
  }
  return until;
}

/**
 * Who is connected: pauses and resumes metering, and starts a call's clock (or a chat's whose
 * user had left when it was accepted). Kept from the request on, for acceptance. A side whose
 * heartbeats stop without an offline report (its edge was killed) is taken as gone once the
 * presence timeout has passed since its last one.
 */
export function presence(core: Core) {
  const { experts, now, log, write, rules } = core;

  /**
   * `side` of `session` connecting or leaving at `at`: the session as written (when anything
   * changed) and the change for the presence log (when the side's state did).
   */
  async function apply(
    tx: SessionTx,
    emit: Emit,
    session: SessionRecord,
    side: Side,
    online: boolean,
    at: Date,
  ): Promise<{ session: SessionRecord; change?: PresenceChange }> {
    const flag = side === "user" ? "userOnline" : "expertOnline";
    const patch: SessionPatch = { [flag]: online };
    const userOnline = side === "user" ? online : session.userOnline;
    const expertOnline = side === "expert" ? online : session.expertOnline;
    if (session.status !== "active") {
      // Before acceptance, who is there and whether the user has left (acceptance reads both).
      if (side === "user") patch.awaySince = online ? null : earliest(session.awaySince, at);
    } else if (!online) {
      patch.awaySince = earliest(session.awaySince, at);
    } else if (!userOnline || !expertOnline) {
      // Back while the other is still away: away from when that one left (each side has its own
      // timeout), not from when the first of them did.
      if (!session[flag] && session.awaySince) {
        const other = side === "user" ? session.expertId : session.userId;
        const left = await tx.lastLeft(session.id, other);
        if (left && left > session.awaySince) {
          patch.awaySince = left;
          // Metering paused at the first one's grace, though no tick has applied it yet.
          const graceEnd = new Date(session.awaySince.getTime() + rules.pauseGraceSeconds * 1000);
          if (!session.pausedAt && graceEnd <= at) patch.pausedAt = graceEnd;
        }
      }
    } else {
      patch.awaySince = null;
      if (session.pausedAt) {
        // Resume: the schedule moves by the paused time, so nobody pays for dead air.
        patch.pausedAt = null;
        if (session.nextChargeAt)
          patch.nextChargeAt = new Date(
            session.nextChargeAt.getTime() + (at.getTime() - session.pausedAt.getTime()),
          );
      }
      if (!session.startedAt) {
        patch.startedAt = at;
        patch.nextChargeAt = at;
      }
    }
    let updated = session;
    if (changesAnything(session, patch)) {
      updated = await tx.updateSession(session.id, patch);
      if (patch.startedAt) await emit(session.id, { type: "status_changed", session: updated });
    }
    if (session[flag] === online) return { session: updated };
    const userId = side === "user" ? session.userId : session.expertId;
    return { session: updated, change: { sessionId: session.id, userId, online, at } };
  }

  return {
    /**
     * Presence from the edge: forwarded to user, then applied to the session named (while open)
     * or to the person's active sessions. A heartbeat (online again) changes nothing but, every
     * SEEN_EVERY_MS, the side's last heartbeat.
     */
    async reportPresence(userId: string, sessionId: string | undefined, online: boolean) {
      await experts
        .reportPresence(userId, online)
        .catch((error: unknown) => log.warn({ err: error, userId }, "presence report to user failed"));
      return write(async (tx, emit) => {
        const sessions = await tx.lockPresenceTargets(userId, sessionId || undefined);
        const at = now();
        const sides = sessions.map((session) => ({ sessionId: session.id, userId }));
        const seen = online ? await tx.lastSeen(sides) : new Map<string, Date>();
        // Each participant's connection changes are kept: a dispute's evidence of presence.
        const changes: PresenceChange[] = [];
        for (const session of sessions) {
          const side = session.userId === userId ? "user" : "expert";
          const { change } = await apply(tx, emit, session, side, online, at);
          if (change) changes.push(change);
        }
        await tx.logPresence(changes);
        if (!online) await tx.forgetSeen(sides);
        else
          await tx.markSeen(
            sides
              .filter((side) => {
                const last = seen.get(sideKey(side));
                return !last || at.getTime() - last.getTime() >= SEEN_EVERY_MS;
              })
              .map((side) => ({ ...side, at })),
          );
        return sessions.length;
      });
    },

    /**
     * Sides not heard from for the presence timeout, at most `limit`: each still marked connected
     * to an open session goes offline as if its offline report had arrived when the timeout began
     * (its last written heartbeat, to within a tick; never before the session started), so the
     * pause grace and the disconnect timeout count from there. Their heartbeats are forgotten,
     * those of sessions ended since too. Returns the sides claimed.
     */
    async forgetSilent(at: Date, limit: number): Promise<number> {
      if (rules.presenceTimeoutSeconds === 0) return 0;
      const before = new Date(at.getTime() - rules.presenceTimeoutSeconds * 1000);
      return write(async (tx, emit) => {
        const claimed = await tx.claimSilent(before, limit);
        // Read again under the sessions' locks: a heartbeat committed meanwhile keeps its side.
        const seen = await tx.lastSeen(
          claimed.map(({ session, userId }) => ({ sessionId: session.id, userId })),
        );
        const latest = new Map<string, SessionRecord>();
        const silent: SessionSide[] = [];
        const changes: PresenceChange[] = [];
        for (const { session: claimedSession, userId } of claimed) {
          const side = { sessionId: claimedSession.id, userId };
          const last = seen.get(sideKey(side));
          if (last && last > before) continue;
          silent.push(side);
          const session = latest.get(side.sessionId) ?? claimedSession;
          const which = userId === session.userId ? "user" : "expert";
          const open = ["requested", "waiting", "active"].includes(session.status);
          if (!open || !(which === "user" ? session.userOnline : session.expertOnline)) continue;
          const from = session.startedAt && session.startedAt > before ? session.startedAt : before;
          let applied = await apply(tx, emit, session, which, false, from);
          // Paused at once when its grace is over already: no instance charges a minute in between.
          const away = applied.session.awaySince;
          const graceEnd = away && new Date(away.getTime() + rules.pauseGraceSeconds * 1000);
          if (applied.session.status === "active" && !applied.session.pausedAt && graceEnd && graceEnd <= at)
            applied = { ...applied, session: await tx.updateSession(side.sessionId, { pausedAt: graceEnd }) };
          latest.set(side.sessionId, applied.session);
          if (applied.change) changes.push(applied.change);
        }
        await tx.logPresence(changes);
        await tx.forgetSeen(silent);
        return claimed.length;
      });
    },
  };
}
