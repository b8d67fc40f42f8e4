import type { Logger } from "@parley/kit/log";
import type { OutboxMessage } from "../domain/model";
import type { AuthStore, Notifier, PersonEffects, ProfileDirectory, SecurityNotifier } from "../domain/ports";
import type { createOutboxQueue } from "../persistence/outbox";

export interface OutboxWorkerDeps {
  queue: ReturnType<typeof createOutboxQueue>;
  profiles: ProfileDirectory;
  notifier: Notifier;
  /** Security notices to the user service's inbox. */
  notices: SecurityNotifier;
  /** Profiles and sessions following an account's status. */
  effects: PersonEffects;
  /** The account's status as it is now, read when a status change is delivered. */
  accounts: Pick<AuthStore, "findAccount">;
  log: Logger;
  intervalMs: number;
}

/** Exponential backoff between attempts, capped at ten minutes. */
const backoffSeconds = (attempts: number) => Math.min(600, 2 ** Math.min(attempts, 10));

/**
 * Delivers outbox messages after their transaction committed: a user-service outage delays
 * profile creation instead of losing it (GetMe also creates a missing profile).
 */
export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const deliver = async (id: string, message: OutboxMessage) => {
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

  const drainOnce = () =>
    deps.queue.drain(20, async (entry) => {
      try {
        await deliver(entry.id, entry.message);
        return { ok: true };
      } catch (error) {
        deps.log.warn(
          { err: error, kind: entry.message.kind, attempts: entry.attempts + 1 },
          "outbox delivery failed",
        );
        return { ok: false, error: String(error), retryInSeconds: backoffSeconds(entry.attempts) };
      }
    });

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = drainOnce()
      .catch((error: unknown) => deps.log.error({ err: error }, "outbox drain failed"))
      .finally(() => {
        if (timer) timer = setTimeout(tick, deps.intervalMs);
      });
  };
  return {
    drainOnce,
    start() {
      timer = setTimeout(tick, 0);
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
