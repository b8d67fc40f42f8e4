import type { SessionKind } from "./model";

/** What session needs to know about an expert (from the user service). */
export interface ExpertInfo {
  expertId: string;
  chatRateMinor: bigint;
  callRateMinor: bigint;
  currency: string;
  maxConcurrentSessions: number;
  availability: "available" | "unavailable" | "offline" | "busy";
}

/** The user service as session uses it. */
export interface ExpertDirectory {
  /** undefined when there is no such expert. */
  getExpert(expertId: string): Promise<ExpertInfo | undefined>;
  reportExpertLoad(expertId: string, activeSessions: number): Promise<void>;
  updateRatingSummary(expertId: string, sessionId: string, rating: number): Promise<void>;
  /** Keeps the person's presence (and an expert's availability) current in the user service. */
  reportPresence(userId: string, online: boolean): Promise<void>;
}

/** The billing service as session uses it; INSUFFICIENT_FUNDS arrives as an AppError. */
export interface BillingPort {
  placeHold(input: {
    userId: string;
    amountMinor: bigint;
    currency: string;
    requestId: string;
    reference: string;
    ttlSeconds: number;
  }): Promise<{ holdId: string }>;
  releaseHold(holdId: string, requestId: string): Promise<void>;
  charge(input: {
    sessionId: string;
    minute: number;
    payerUserId: string;
    payeeUserId: string;
    amountMinor: bigint;
    currency: string;
    holdId: string | null;
  }): Promise<{ minutesLeft: bigint }>;
  settleSession(input: {
    sessionId: string;
    payerUserId: string;
    payeeUserId: string;
    holdId: string | null;
    rateMinor: bigint;
    currency: string;
    kind: SessionKind;
  }): Promise<{ invoiceId: string }>;
}

export type Clock = () => Date;
