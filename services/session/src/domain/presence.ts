import type { Core, Emit } from "./core";
import type { SessionRecord } from "./model";
import type { SessionPatch, SessionTx } from "./ports";

/**
 * A connected side's heartbeat is written down (`userSeenAt` / `expertSeenAt`) once its last
 * written one is this old: a row write per side every 20–30 s, not one per heartbeat.
 */
export const SEEN_EVERY_MS = 20_000;

type Side = "user" | "expert";
type PresenceChange = { sessionId: string; userId: string; online: boolean; at: Date };

const sameValue = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/** The earlier of a known time and `at` (a side silent since before another left was away first). */
const earliest = (known: Date | null, at: Date) => (known && known <= at ? known : at);

/** Whether writing `patch` would change the session's row. */
const changesAnything = (session: SessionRecord, patch: SessionPatch) =>
  Object.entries(patch).some(([key, value]) => !sameValue(session[key as keyof SessionPatch], value));

/**
 * Who is connected: pauses and resumes metering, and starts a call's clock (or a chat's whose
 * user had left when it was accepted). Kept from the request on, for acceptance. A side that
 * stops sending heartbeats without an offline report (its edge was killed) is taken as gone
 * since its last heartbeat.
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
    const seen = side === "user" ? "userSeenAt" : "expertSeenAt";
    const patch: SessionPatch = { [flag]: online };
    const lastSeen = session[seen];
    if (online && (!session[flag] || !lastSeen || at.getTime() - lastSeen.getTime() >= SEEN_EVERY_MS))
      patch[seen] = at;
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
    // A heartbeat that changes nothing writes nothing (every connection sends one per ≤ 30 s).
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
     * or to the person's active sessions.
     */
    async reportPresence(userId: string, sessionId: string | undefined, online: boolean) {
      await experts
        .reportPresence(userId, online)
        .catch((error: unknown) => log.warn({ err: error, userId }, "presence report to user failed"));
      return write(async (tx, emit) => {
        const sessions = await tx.lockPresenceTargets(userId, sessionId || undefined);
        const at = now();
        // Each participant's connection changes are kept: a dispute's evidence of presence.
        const changes: PresenceChange[] = [];
        for (const session of sessions) {
          const side = session.userId === userId ? "user" : "expert";
          const { change } = await apply(tx, emit, session, side, online, at);
          if (change) changes.push(change);
        }
        await tx.logPresence(changes);
        return sessions.length;
      });
    },

    /**
     * Sides marked connected but silent for the presence timeout, at most `limit` sessions: each
     * goes offline as of its last heartbeat, as if its offline report had arrived then (the pause
     * grace and the disconnect timeout count from there). Returns the sessions claimed.
     */
    async forgetSilent(at: Date, limit: number): Promise<number> {
      const before = new Date(at.getTime() - rules.presenceTimeoutSeconds * 1000);
      return write(async (tx, emit) => {
        const silent = await tx.claimSilent(before, limit);
        const changes: PresenceChange[] = [];
        for (const claimed of silent) {
          let session = claimed;
          for (const side of ["user", "expert"] as const) {
            const lastSeen = side === "user" ? session.userSeenAt : session.expertSeenAt;
            const online = side === "user" ? session.userOnline : session.expertOnline;
            if (!online || !lastSeen || lastSeen > before) continue;
            const applied = await apply(tx, emit, session, side, false, lastSeen);
            if (applied.change) changes.push(applied.change);
            session = applied.session;
          }
        }
        await tx.logPresence(changes);
        return silent.length;
      });
    },
  };
}
