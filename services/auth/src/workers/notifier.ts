import type { Logger } from "@parley/kit/log";
import type { Notifier } from "../domain/ports";

/**
 * Until an email/SMS provider is wired, messages are logged without their secret: the
 * outbox row proves the message was due, and the reset flow is testable end to end by
 * injecting a notifier.
 */
const mask = (to: string) => to.replace(/^(.).*(.@.*|..)$/, "$1***$2");

export function createLogNotifier(log: Logger): Notifier {
  return {
    async sendPasswordReset({ channel, to, expiresAt }) {
      log.info({ channel, to: mask(to), expiresAt }, "password reset message (no provider configured)");
    },
    async sendNoAccountNotice({ channel, to }) {
      log.info({ channel, to: mask(to) }, "no-account notice for a reset request (no provider configured)");
    },
  };
}
