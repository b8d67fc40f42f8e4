import { createECDH, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import ece from "http_ece";
import { SMTPServer } from "smtp-server";
import type { Test } from "tap";

const bodyOf = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
  });

/** A real SMTP server on a free port: every message it accepts, raw, in `mails`. */
export async function startSmtpReceiver(t: Test) {
  const mails: string[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push(Buffer.concat(chunks).toString());
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
  const { port } = (smtp as unknown as { server: { address(): AddressInfo } }).server.address();
  return { mails, url: `smtp://127.0.0.1:${port}` };
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
