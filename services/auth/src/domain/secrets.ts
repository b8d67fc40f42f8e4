import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

/** A random opaque token: `bytes` of entropy, base64url (32 bytes = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Everything auth derives from SIGNING_KEY_SECRET: sealing (AES-256-GCM) for what must be
 * read back (signing keys, TOTP secrets, a refresh pair during its retry window) and a keyed
 * digest (HMAC-SHA256) for what is only compared (refresh tokens, API keys, reset tokens,
 * backup codes), so a copy of the database alone cannot test guesses.
 */
export interface Secrets {
  seal(plaintext: string): string;
  unseal(sealed: string): string;
  digest(secret: string): string;
}

export function createSecrets(masterSecret: string): Secrets {
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", masterSecret, "parley-auth", info, 32));
  const sealingKey = derive("seal-v1");
  const digestKey = derive("digest-v1");
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", sealingKey, iv);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [
        "v1",
        iv.toString("base64url"),
        body.toString("base64url"),
        cipher.getAuthTag().toString("base64url"),
      ].join(".");
    },
    unseal(sealed) {
      const [version, iv, body, tag] = sealed.split(".");
      if (version !== "v1" || !iv || body === undefined || !tag) throw new Error("unknown sealed format");
      const decipher = createDecipheriv("aes-256-gcm", sealingKey, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString(
        "utf8",
      );
    },
    digest: (secret) => createHmac("sha256", digestKey).update(secret).digest("base64url"),
  };
}
