import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { failedPrecondition } from "@parley/kit/errors";

/**
 * AES-256-GCM sealing of payout details at rest: a random 12-byte nonce ‖ the 16-byte tag ‖ the
 * ciphertext, with the owner's id as associated data (a sealed value copied onto another row
 * does not open).
 */
export function createSealer(key: Buffer | undefined) {
  const required = () => {
    if (!key)
      throw failedPrecondition(
        "PAYOUTS_NOT_CONFIGURED",
        "payout accounts need PAYOUT_ENCRYPTION_KEY on billing",
      );
    return key;
  };
  return {
    seal(plaintext: string, owner: string): Buffer {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", required(), nonce);
      cipher.setAAD(Buffer.from(owner));
      const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), sealed]);
    },
    open(sealed: Buffer, owner: string): string {
      const decipher = createDecipheriv("aes-256-gcm", required(), sealed.subarray(0, 12));
      decipher.setAAD(Buffer.from(owner));
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString("utf8");
    },
  };
}

export type Sealer = ReturnType<typeof createSealer>;
