import type { Sql } from "@parley/kit/db";
import type { Logger } from "@parley/kit/log";
import { createOutboxRelay } from "@parley/kit/outbox";
import type { OutboxMessage } from "../domain/model";
import type { AuthStore, Notifier, PersonEffects, ProfileDirectory, SecurityNotifier } from "../domain/ports";
import { OUTBOX } from "../persistence/shared";

export interface OutboxWorkerDeps {
  sql: Sql;
  profiles: ProfileDirectory;
  notifier: Notifier;
  /** Security notices to the user service's inbox. */
  notices: SecurityNotifier;
  /** Profiles and sessions following an account's status. */
  effects: PersonEffects;
  /** The account's status as it is now, read when a status change is delivered. */
  accounts: Pick<AuthStore, "findAccount">;
  log: Logger;
  /** The fallback poll (OUTBOX_INTERVAL_MS): the NOTIFY of each write wakes the relay at once. */
  intervalMs: number;
  /** Listen for NOTIFY (default true; off in tests that drive `drainOnce`). */
  listen?: boolean;
  /** The clock a reset link's expiry is read against (default: the system's). */
  now?: () => Date;
}

/**
 * The person a message is about: one person's messages are delivered in the order they were
 * written, different people's concurrently. A reset or no-account notice knows its address,
 * a device's forgetting its login session only.
 */
const about = (message: OutboxMessage): string => {
  switch (message.kind) {
    case "notify.password_reset":
    case "notify.no_account":
      return `to:${message.payload.to}`;
    case "devices.forget":
      return `login-session:${message.payload.loginSessionId}`;
    default:
      return message.payload.userId;
  }
};

/**
 * A message to an address (a reset link, a no-account notice, a verification code) is given up
 * after this many attempts, about 1¼ hours with the relay's backoff: an address the provider
 * refuses for good would otherwise be tried for ever, keeping its row (and a reset's token).
 */
export const ADDRESS_MESSAGE_ATTEMPTS = 16;

/** Why a message to an address is not worth sending any more, if it is not. */
function staleness(message: OutboxMessage, attempts: number, now: Date): string | undefined {
  if (
    message.kind !== "notify.password_reset" &&
    message.kind !== "notify.no_account" &&
    message.kind !== "verify.send"
  )
    return undefined;
  if (message.kind === "notify.password_reset" && new Date(message.payload.expiresAt) <= now)
    return "its reset link has expired";
  if (attempts > ADDRESS_MESSAGE_ATTEMPTS) return `${ADDRESS_MESSAGE_ATTEMPTS} attempts failed`;
  return undefined;
}

/**
 * A wake-up waits this long before claiming: a burst of sign-ins (one notice each) is relayed
 * in batches, one claim and one delete for several notices, at the cost of a few ms of latency.
 */
const GATHER_MS = 50;

/**
 * Delivers auth's outbox (the kit's relay) after the transactions that wrote it committed: a
 * user-service outage delays profile creation instead of losing it (GetMe also creates a
 * missing profile). Receivers are idempotent by the row id (delivery is at least once).
 */
export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const now = deps.now ?? (() => new Date());
  const deliver = async (id: string, message: OutboxMessage, attempts: number) => {
    const stale = staleness(message, attempts, now());
    if (stale) {
      // Delivered as far as the relay is concerned: the row goes. The address is not logged.
      deps.log.warn({ id, kind: message.kind, attempts, why: stale }, "message to an address given up");
      return;
    }
    switch (message.kind) {
      case "notify.security":
        return deps.notices.notify(id, message.payload);
      case "devices.forget":
        return deps.notices.forgetLoginSession(message.payload.loginSessionId);
      case "profile.ensure":
        return deps.profiles.ensureProfile(message.payload);
      case "notify.password_reset":
        return deps.notifier.sendPasswordReset(message.payload);
      case "notify.no_account":
        return deps.notifier.sendNoAccountNotice(message.payload);
      case "profile.status": {
        // The status now, not the one the message was written with: a suspension whose delivery
        // failed and is retried after the unsuspension was delivered must not suspend the profile
        // again (messages are claimed by due time, and retries wait with backoff).
        const account = await deps.accounts.findAccount(message.payload.userId);
        return deps.effects.setProfileStatus(
          message.payload.userId,
          account?.status ?? message.payload.status,
        );
      }
      case "verify.send":
        return deps.effects.sendVerificationCode(message.payload);
      case "sessions.forget_author":
        return deps.effects.forgetAuthor(message.payload.userId);
      case "sessions.end":
        return deps.effects.endSessions(
          message.payload.userId,
          message.payload.reason,
          message.payload.asPayerOnly ?? false,
        );
    }
  };

  return createOutboxRelay<OutboxMessage>({
    sql: deps.sql,
    table: OUTBOX,
    log: deps.log,
    pollMs: deps.intervalMs,
    listen: deps.listen,
    gatherMs: GATHER_MS,
    // A claim outlasts the sends of a batch through the user service (each may wait 30 s,
    // clients/user.ts; one address's run one after another), so another instance seldom claims a
    // row whose send is still running (delivery is at least once).
    leaseSeconds: 120,
    orderKey: about,
    deliver: ({ id, payload, attempts }) => deliver(id, payload, attempts),
    // A burst's sign-in notices (of one person or many) go in one NotifyMany call.
    many: (message) => message.kind === "notify.security",
    deliverMany: (rows) =>
      deps.notices.notifyMany(
        rows.map(({ id, payload }) => {
          if (payload.kind !== "notify.security") throw new Error(`${payload.kind} is not a notice`);
          return { eventId: id, notice: payload.payload };
        }),
      ),
  });
}
