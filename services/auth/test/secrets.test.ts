import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import t from "tap";
import { createSecrets } from "../src/domain/secrets";

const OLD = "an-old-signing-key-secret-of-32-chars-or-more";
const NEW = "a-new-signing-key-secret-of-32-chars-or-more!";

/** A value as auth sealed it before sealed values named their secret (`v1.<iv>.<body>.<tag>`). */
function sealedV1(secret: string, plaintext: string): string {
  const key = Buffer.from(hkdfSync("sha256", secret, "parley-auth", "seal-v1", 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv, body, cipher.getAuthTag()].map((part) => part.toString("base64url")).join(".");
}

t.test(
  "a rotated ring opens what the previous secret sealed, and seals only under the new one",
  async (t) => {
    const before = createSecrets(OLD);
    const after = createSecrets(NEW, [OLD]);
    const sealed = before.seal("totp secret");
    t.match(sealed, /^v2\.[A-Za-z0-9_-]{8}\.[^.]+\.[^.]+\.[^.]+$/);
    t.ok(before.isCurrent(sealed));
    t.notOk(after.isCurrent(sealed), "due a reseal after the rotation");
    t.equal(after.unseal(sealed), "totp secret");
    const resealed = after.seal(after.unseal(sealed));
    t.ok(after.isCurrent(resealed));
    t.ok(resealed.startsWith(after.currentPrefix));
    t.throws(
      () => before.unseal(resealed),
      /any configured secret/,
      "the old ring cannot open the new secret's",
    );
    t.throws(
      () => createSecrets(NEW).unseal(sealed),
      /any configured secret/,
      "nor the new one alone the old's",
    );
  },
);

t.test("values sealed before secrets had ids open under whichever secret sealed them", async (t) => {
  const ring = createSecrets(NEW, [OLD]);
  t.equal(ring.unseal(sealedV1(OLD, "from before")), "from before");
  t.equal(ring.unseal(sealedV1(NEW, "current")), "current");
  t.notOk(ring.isCurrent(sealedV1(NEW, "current")), "resealed into the named format");
  t.throws(() => createSecrets(NEW).unseal(sealedV1(OLD, "lost")), /any configured secret/);
  t.throws(() => ring.unseal("v9.x.y.z"), /unknown sealed format/);
  const forged = sealedV1(OLD, "value").replace(/\.[^.]+$/, `.${randomBytes(16).toString("base64url")}`);
  t.throws(
    () => ring.unseal(forged),
    /any configured secret/,
    "a tag that no secret authenticates is refused",
  );
});

t.test("digests: stored under the current secret, matched under every secret of the ring", async (t) => {
  const before = createSecrets(OLD);
  const after = createSecrets(NEW, [OLD]);
  t.same(after.digests("token"), [after.digest("token"), before.digest("token")]);
  t.not(after.digest("token"), before.digest("token"));
  t.same(createSecrets(NEW).digests("token"), [after.digest("token")]);
});
