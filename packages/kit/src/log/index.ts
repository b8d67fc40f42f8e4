import pino, { type Logger } from "pino";

export type { Logger };

/** Fields that may hold secrets: pino replaces them wherever they appear in a log line. */
const REDACT = [
  "password",
  "newPassword",
  "currentPassword",
  "token",
  "accessToken",
  "refreshToken",
  "secret",
  "clientSecret",
  "apiKey",
  "code",
  "authorization",
  "*.password",
  "*.newPassword",
  "*.currentPassword",
  "*.token",
  "*.accessToken",
  "*.refreshToken",
  "*.secret",
  "*.clientSecret",
  "*.apiKey",
  "*.authorization",
  "headers.authorization",
  'headers["x-api-key"]',
  "req.headers.authorization",
  'req.headers["x-api-key"]',
];

export interface LoggerOptions {
  service: string;
  level?: string;
}

/** The one way to make a logger: pino JSON to stdout, secrets redacted, service named. */
export function createLogger({ service, level = "info" }: LoggerOptions): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
