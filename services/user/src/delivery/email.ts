import type { Logger } from "@parley/kit/log";
import nodemailer from "nodemailer";
import { type DeliveryOutcome, loggableBody } from "../domain/model";
import type { DeliveryAdapter } from "../domain/ports";
import { emailBodies } from "../domain/templates";

/**
 * An SMTP server gets this long to connect, greet and answer each command (nodemailer waits
 * 2 min, 30 s and 10 min), so a stuck server fails a send rather than hold it for minutes.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 10_000 };

/**
 * Email over SMTP (nodemailer) to `SMTP_URL`, text and HTML from the templates. Without an
 * SMTP server the message is written to the service's log instead (`pnpm start` shows it),
 * whole but for a secret it carries (a code, a reset token), so a newcomer sees what would have been sent.
 */
export function emailAdapter(options: { smtpUrl?: string; from: string; log: Logger }): DeliveryAdapter {
  const transport = options.smtpUrl
    ? nodemailer.createTransport({ url: options.smtpUrl, ...SMTP_TIMEOUTS })
    : nodemailer.createTransport({ jsonTransport: true });
  return {
    async send(target, message): Promise<DeliveryOutcome> {
      if (target.channel !== "email") return { outcome: "failed", detail: "not an email target" };
      const { text, html } = emailBodies(message.title, message.body);
      try {
        const info = await transport.sendMail({
          from: options.from,
          to: target.address,
          subject: message.title,
          text,
          html,
          headers: { "X-Parley-Notification": message.notificationId },
        });
        if (!options.smtpUrl)
          options.log.info(
            {
              to: target.address,
              subject: message.title,
              text: loggableBody({ body: text, secret: message.secret }),
            },
            "email (no SMTP_URL: logged, not sent)",
          );
        return (info.rejected ?? []).length > 0
          ? { outcome: "failed", detail: `rejected ${(info.rejected ?? []).join(", ")}` }
          : { outcome: "sent" };
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode;
        // 5xx replies are permanent; connection trouble and 4xx are worth another try.
        return code !== undefined && code >= 500
          ? { outcome: "failed", detail: String(error) }
          : { outcome: "retry", detail: String(error) };
      }
    },
  };
}
