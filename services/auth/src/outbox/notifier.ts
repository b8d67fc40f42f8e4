import type { Logger } from "@parley/kit/log";
import type { Notifier } from "../domain/ports";

/**
 * Until an email/SMS provider is wired, messages are logged without their secret: the
 * outbox row proves the message was due, and the reset flow is testable end to end by
 * injecting a notifier.
 */
export function createLogNotifier(log: Logger): Notifier {
  return {
    async sendPasswordReset({ channel, to, expiresAt }) {
      const masked = to.replace(/^(.).*(.@.*|..)$/, "$1***$2");
      log.info({ channel, to: masked, expiresAt }, "password reset message (no provider configured)");
    },
  };
}
