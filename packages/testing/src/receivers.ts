import { createECDH, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import ece from "http_ece";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import type { Test } from "tap";

const bodyOf = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
  });

/** A mail as its reader sees it: recipients, subject and text, decoded (mailparser). */
export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
}

const addressesOf = (to: ParsedMail["to"]): string[] =>
  (Array.isArray(to) ? to : to ? [to] : []).flatMap((group) =>
    group.value.map((address) => address.address ?? ""),
  );

/**
 * A real SMTP server on a free port: every message it accepts, raw, in `mails`, and parsed (its
 * subject and text decoded from whatever transfer encoding it came in) in `received`.
 */
export async function startSmtpReceiver(t: Test) {
  const mails: string[] = [];
  const received: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        mails.push(raw.toString());
        simpleParser(raw).then(
          (parsed) => {
            received.push({
              to: addressesOf(parsed.to),
              subject: parsed.subject ?? "",
              text: parsed.text ?? "",
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
  const { port } = (smtp as unknown as { server: { address(): AddressInfo } }).server.address();
  return { mails, received, url: `smtp://127.0.0.1:${port}` };
}

export interface ReceivedPush {
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/**
 * A Web Push service endpoint on a free port: keeps every request and answers 201 Created.
 * `subscriber()` makes the keys a browser would subscribe with, and decrypts what was pushed
 * to it (RFC 8291, aes128gcm).
 */
export async function startPushReceiver(t: Test) {
  const pushes: ReceivedPush[] = [];
  const server = createServer(async (request, response) => {
    pushes.push({ path: request.url ?? "", headers: request.headers, body: await bodyOf(request) });
    response.writeHead(201).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
  return {
    pushes,
    /** The base of endpoints: subscribe with `${url}/<anything>`. */
    url,
    subscriber() {
      const keys = createECDH("prime256v1");
      keys.generateKeys();
      const authSecret = randomBytes(16);
      return {
        p256dh: keys.getPublicKey().toString("base64url"),
        auth: authSecret.toString("base64url"),
        decrypt: (body: Buffer) =>
          ece.decrypt(body, { version: "aes128gcm", privateKey: keys, authSecret }).toString(),
      };
    },
  };
}

/**
 * An SMS provider stand-in in Twilio's Messages API shape on a free port: it checks the
 * account's path and Basic auth (401 otherwise), keeps every request's form (To, From, Body),
 * answers 201 — or 503 for the next `failNext(n)` authorised requests. `env` is the user
 * service's SMS configuration for it.
 */
export async function startSmsReceiver(t: Test, account = { sid: "AC123", authToken: "sms-secret" }) {
  const requests: Array<{ authorised: boolean; form: URLSearchParams }> = [];
  let failures = 0;
  const expected = `Basic ${Buffer.from(`${account.sid}:${account.authToken}`).toString("base64")}`;
  const server = createServer(async (request, response) => {
    const form = new URLSearchParams((await bodyOf(request)).toString());
    const authorised =
      request.url === `/2010-04-01/Accounts/${account.sid}/Messages.json` &&
      request.headers.authorization === expected;
    requests.push({ authorised, form });
    if (!authorised) return response.writeHead(401).end();
    if (failures > 0) {
      failures--;
      return response.writeHead(503).end();
    }
    response.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ sid: "SM1" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    requests,
    url,
    account,
    failNext(count: number) {
      failures = count;
    },
    env: (from: string) => ({
      SMS_BASE_URL: url,
      SMS_ACCOUNT_SID: account.sid,
      SMS_AUTH_TOKEN: account.authToken,
      SMS_FROM: from,
    }),
  };
}
