import type { Core } from "./core";
import type { SessionRecord } from "./model";
import type { SessionPatch } from "./ports";

const sameValue = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/** Whether writing `patch` would change the session's row. */
const changesAnything = (session: SessionRecord, patch: SessionPatch) =>
  Object.entries(patch).some(([key, value]) => !sameValue(session[key as keyof SessionPatch], value));

/**
 * Who is connected: pauses and resumes metering, and starts a call's clock (or a chat's whose
 * user had left when it was accepted). Kept from the request on, for acceptance.
 */
export function presence(core: Core) {
  const { experts, now, log, write, rules } = core;

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
        const changes: Array<{ sessionId: string; userId: string; online: boolean; at: Date }> = [];
        for (const session of sessions) {
          const side = session.userId === userId ? "userOnline" : "expertOnline";
          const patch: SessionPatch = { [side]: online };
          const userOnline = side === "userOnline" ? online : session.userOnline;
          const expertOnline = side === "expertOnline" ? online : session.expertOnline;
          if (session.status !== "active") {
            // Before acceptance, who is there and whether the user has left (acceptance reads both).
            if (side === "userOnline") patch.awaySince = online ? null : (session.awaySince ?? at);
          } else if (!online) {
            if (!session.awaySince) patch.awaySince = at;
          } else if (!userOnline || !expertOnline) {
            // Back while the other is still away: away from when that one left (each side has
            // its own timeout), not from when the first of them did.
            if (!session[side] && session.awaySince) {
              const other = side === "userOnline" ? session.expertId : session.userId;
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
          if (session[side] !== online) changes.push({ sessionId: session.id, userId, online, at });
          // A heartbeat that changes nothing writes nothing (every connection sends one per ≤ 30 s).
          if (!changesAnything(session, patch)) continue;
          const updated = await tx.updateSession(session.id, patch);
          if (patch.startedAt) await emit(session.id, { type: "status_changed", session: updated });
        }
        await tx.logPresence(changes);
        return sessions.length;
      });
    },
  };
}
