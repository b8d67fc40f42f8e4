import { ACCESS_TOKEN_ALGORITHM } from "@parley/kit/auth";
import { newId } from "@parley/kit/ids";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from "jose";
import type { SigningKey } from "./model";
import type { SigningKeyStore } from "./ports";
import type { Secrets } from "./secrets";

export interface KeyRingOptions {
  store: SigningKeyStore;
  secrets: Secrets;
  now: () => Date;
  accessTokenTtlSeconds: number;
  /** How long a new key is published before it signs, so verifiers can fetch it first. */
  activationDelaySeconds: number;
  /** Age at which the signing key is replaced on schedule. */
  rotationDays: number;
}

export interface KeyRing {
  /** The key that signs now. */
  signer(): Promise<{ kid: string; key: CryptoKey }>;
  /** Public keys whose tokens may still be valid, and the next key before it signs. */
  jwks(): Promise<JSONWebKeySet>;
  /** Publishes a new key now; it signs after the activation delay. */
  rotate(): Promise<SigningKey>;
  /**
   * Creates the first key, or rotates when the newest key is older than rotationDays or sealed
   * under a previous SIGNING_KEY_SECRET (the old key signs until the new one activates).
   */
  maintain(): Promise<void>;
}

/** Extra life for a retired key after its last token's expiry (clock skew between hosts). */
const RETIREMENT_MARGIN_MS = 60_000;
/** Instances re-read the key table this often, so a rotation by any instance reaches all. */
const RELOAD_MS = 30_000;

export function createKeyRing(options: KeyRingOptions): KeyRing {
  const { store, secrets, now } = options;
  let keys: SigningKey[] = [];
  let loadedAtMs = Number.NEGATIVE_INFINITY;
  const privateKeys = new Map<string, Promise<CryptoKey>>();

  let loading: Promise<void> | undefined;
  /** One read of the key table at a time, shared by every caller that asks meanwhile. */
  const load = () =>
    (loading ??= store
      .listSigningKeys()
      .then((list) => {
        keys = list;
        loadedAtMs = Date.now();
      })
      .finally(() => {
        loading = undefined;
      }));
  /**
   * Keys in hand keep serving while a due reload runs in the background: the signer is asked
   * for inside refresh transactions, which must never wait for a second pool connection.
   * A failed reload is retried by the next call.
   */
  const fresh = async () => {
    if (keys.length === 0) return load();
    if (Date.now() - loadedAtMs > RELOAD_MS) load().catch(() => undefined);
  };
  const newestKey = (): SigningKey | undefined =>
    [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
  const live = (at: Date) => keys.filter((key) => !key.expiresAt || key.expiresAt > at);
  const signing = (at: Date) =>
    live(at)
      .filter((key) => key.activatesAt <= at)
      .sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime())[0];

  const addKey = async (activatesAt: Date): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, { extractable: true });
    const kid = newId();
    const key: SigningKey = {
      kid,
      privateKeySealed: secrets.seal(JSON.stringify(await exportJWK(privateKey))),
      publicJwk: {
        ...((await exportJWK(publicKey)) as Record<string, string>),
        kid,
        alg: ACCESS_TOKEN_ALGORITHM,
        use: "sig",
      },
      createdAt: now(),
      activatesAt,
      expiresAt: null,
    };
    const newest = newestKey();
    const retireOthersAt = newest
      ? new Date(activatesAt.getTime() + options.accessTokenTtlSeconds * 1000 + RETIREMENT_MARGIN_MS)
      : null;
    const added = await store.addSigningKey(key, newest?.kid, retireOthersAt);
    await load();
    if (added) return key;
    // Another instance rotated first: its key is the one that stands.
    return newestKey()!;
  };

  return {
    async signer() {
      await fresh();
      let current = signing(now());
      if (!current) {
        await load();
        current = signing(now());
      }
      if (!current) throw new Error("no signing key is active: call maintain() at start");
      const { kid, privateKeySealed } = current;
      let key = privateKeys.get(kid);
      if (!key) {
        key = importJWK(
          JSON.parse(secrets.unseal(privateKeySealed)) as JWK,
          ACCESS_TOKEN_ALGORITHM,
        ) as Promise<CryptoKey>;
        privateKeys.set(kid, key);
      }
      return { kid, key: await key };
    },
    async jwks() {
      await fresh();
      return { keys: live(now()).map((key) => key.publicJwk as JWK) };
    },
    rotate: () => addKey(new Date(now().getTime() + options.activationDelaySeconds * 1000)),
    async maintain() {
      await load();
      const at = now();
      if (!signing(at)) {
        if (live(at).length === 0) await addKey(at);
        return;
      }
      const newest = newestKey()!;
      const ageMs = at.getTime() - newest.createdAt.getTime();
      const due = ageMs > options.rotationDays * 86_400_000 || !secrets.isCurrent(newest.privateKeySealed);
      if (newest.activatesAt <= at && due) await this.rotate();
    },
  };
}
