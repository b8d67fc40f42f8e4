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
 *
 * The secret rotates in place: the current secret seals and digests everything new, and
 * the previous ones (SIGNING_KEY_SECRET_PREVIOUS) still open what they sealed and match
 * what they digested, so nobody is signed out and no API key or MFA enrolment is voided.
 */
export interface Secrets {
  /** Seals under the current secret. */
  seal(plaintext: string): string;
  /** Opens what any secret of the ring sealed; throws for anything else. */
  unseal(sealed: string): string;
  /** Whether `sealed` is sealed under the current secret (otherwise it is due a reseal). */
  isCurrent(sealed: string): boolean;
  /** The digest under the current secret: what is stored. */
  digest(secret: string): string;
  /** The digests under every secret of the ring, the current one's first: what a lookup matches. */
  digests(secret: string): readonly string[];
  /** The prefix of every value sealed under the current secret (to find those that are not). */
  readonly currentPrefix: string;
}

interface RingKey {
  /** Names the secret in what it seals, without revealing anything of it. */
  id: string;
  sealing: Buffer;
  digesting: Buffer;
}

const ringKey = (secret: string): RingKey => {
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", secret, "parley-auth", info, 32));
  return {
    id: derive("key-id-v2").subarray(0, 6).toString("base64url"),
    sealing: derive("seal-v1"),
    digesting: derive("digest-v1"),
  };
};

function open(key: RingKey, iv: string, body: string, tag: string): string {
  const decipher = createDecipheriv("aes-256-gcm", key.sealing, Buffer.from(iv, "base64url"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
}

/**
 * Sealed values read `v2.<secret id>.<iv>.<ciphertext>.<tag>`; `v1.<iv>.<ciphertext>.<tag>`
 * (sealed before secrets had ids) is opened by whichever secret of the ring authenticates it.
 */
export function createSecrets(currentSecret: string, previousSecrets: readonly string[] = []): Secrets {
  const current = ringKey(currentSecret);
  const ring = [current, ...previousSecrets.map(ringKey)];
  const byId = new Map(ring.map((key) => [key.id, key]));
  const currentPrefix = `v2.${current.id}.`;
  const digestUnder = (key: RingKey, secret: string) =>
    createHmac("sha256", key.digesting).update(secret).digest("base64url");
  return {
    currentPrefix,
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", current.sealing, iv);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return `${currentPrefix}${iv.toString("base64url")}.${body.toString("base64url")}.${cipher.getAuthTag().toString("base64url")}`;
    },
    unseal(sealed) {
      const parts = sealed.split(".");
      if (parts[0] === "v2" && parts.length === 5) {
        const key = byId.get(parts[1]!);
        if (!key) throw new Error("not sealed under any configured secret");
        return open(key, parts[2]!, parts[3]!, parts[4]!);
      }
      if (parts[0] === "v1" && parts.length === 4) {
        for (const key of ring) {
          try {
            return open(key, parts[1]!, parts[2]!, parts[3]!);
          } catch {
            // Not this secret's: GCM's tag refuses it; the next secret is tried.
          }
        }
        throw new Error("not sealed under any configured secret");
      }
      throw new Error("unknown sealed format");
    },
    isCurrent: (sealed) => sealed.startsWith(currentPrefix),
    digest: (secret) => digestUnder(current, secret),
    digests: (secret) => ring.map((key) => digestUnder(key, secret)),
  };
}
