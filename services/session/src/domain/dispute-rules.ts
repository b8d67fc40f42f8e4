import type { SessionRecord } from "./model";
import type { DisputeEvidence, PresenceChange, ProposedOutcome } from "./safety-model";

/** The dispute window and the rules that propose an outcome (DISPUTE_* configuration). */
export interface DisputeRules {
  /** A session may be disputed this long after it ended. */
  windowHours: number;
  /** Rules in force, by name: `expert_no_reply`. */
  enabled: readonly string[];
  /** expert_no_reply: the expert's first message must come within this long of the start. */
  noReplySeconds: number;
}

export const DEFAULT_DISPUTE_RULES: DisputeRules = {
  windowHours: 48,
  enabled: ["expert_no_reply"],
  noReplySeconds: 120,
};

/**
 * Spans metering was paused: while either participant was away, from the grace's end until
 * both were back (the metering worker's rule), as the presence log tells it from when metering
 * started (what it holds from before, while the request waited, is not counted). Both are taken
 * as connected at the start; a session that never started had no pause.
 */
export function pausesFrom(
  presence: PresenceChange[],
  session: Pick<SessionRecord, "userId" | "expertId" | "startedAt" | "endedAt">,
  graceSeconds: number,
): Array<{ from: Date; to: Date | null }> {
  const started = session.startedAt;
  if (!started) return [];
  const online = new Map([
    [session.userId, true],
    [session.expertId, true],
  ]);
  const graceMs = graceSeconds * 1000;
  const leftAt = new Map<string, Date>();
  const pauses: Array<{ from: Date; to: Date | null }> = [];
  let awaySince: Date | null = null;
  for (const change of presence) {
    if (!online.has(change.userId) || change.at < started) continue;
    const back = change.online && !online.get(change.userId);
    online.set(change.userId, change.online);
    if (!change.online) leftAt.set(change.userId, change.at);
    const everyone = [...online.values()].every(Boolean);
    if (!everyone && !awaySince) awaySince = change.at;
    else if (!everyone && awaySince && back && change.at.getTime() < awaySince.getTime() + graceMs) {
      // Back within the grace while the other is still away: away from when that one left.
      const other = change.userId === session.userId ? session.expertId : session.userId;
      const left = leftAt.get(other);
      if (left && left > awaySince) awaySince = left;
    }
    if (everyone && awaySince) {
      const from = new Date(awaySince.getTime() + graceMs);
      if (change.at > from) pauses.push({ from, to: change.at });
      awaySince = null;
    }
  }
  if (awaySince) {
    const from = new Date(awaySince.getTime() + graceMs);
    if (!session.endedAt || session.endedAt > from) pauses.push({ from, to: null });
  }
  return pauses;
}

/** The evidence snapshot: Parley's own records of a session, nothing the parties claim. */
export function computeEvidence(
  session: SessionRecord,
  presence: PresenceChange[],
  messages: Array<{ senderId: string; sentAt: Date }>,
  graceSeconds: number,
): DisputeEvidence {
  const firstExpert = messages.find((m) => m.senderId === session.expertId);
  const start = session.startedAt;
  return {
    minutesCharged: session.minutesCharged,
    rateMinor: session.rateMinor,
    currency: session.currency,
    amountChargedMinor: session.rateMinor * BigInt(session.minutesCharged),
    startedAt: start,
    endedAt: session.endedAt,
    endReason: session.endReason,
    presence,
    pauses: pausesFrom(presence, session, graceSeconds),
    messages,
    expertFirstResponseSeconds:
      firstExpert && start
        ? Math.max(0, Math.floor((firstExpert.sentAt.getTime() - start.getTime()) / 1000))
        : null,
    userMessages: messages.filter((m) => m.senderId === session.userId).length,
    expertMessages: messages.filter((m) => m.senderId === session.expertId).length,
  };
}

/** The outcome the first matching rule proposes; support decides when none matches. */
export function proposeOutcome(
  session: Pick<SessionRecord, "kind">,
  evidence: DisputeEvidence,
  rules: DisputeRules,
): { outcome: ProposedOutcome; rule: string; refundMinor: bigint } {
  if (
    rules.enabled.includes("expert_no_reply") &&
    session.kind === "chat" &&
    evidence.amountChargedMinor > 0n &&
    (evidence.expertFirstResponseSeconds === null ||
      evidence.expertFirstResponseSeconds > rules.noReplySeconds)
  )
    return { outcome: "full_refund", rule: "expert_no_reply", refundMinor: evidence.amountChargedMinor };
  return { outcome: "review", rule: "", refundMinor: 0n };
}
