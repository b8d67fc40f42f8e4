import { createHmac } from "node:crypto";
import { ACCESS_TOKEN_TYPE } from "@parley/kit/auth";
import { isAppError } from "@parley/kit/errors";
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import t from "tap";
import { AUDIENCE, failure, ISSUER, startHarness } from "./harness";

const rejected = async (verify: Promise<unknown>) => {
  try {
    await verify;
    return false;
  } catch (error) {
    return isAppError(error) && error.reason === "TOKEN_INVALID";
  }
};

t.test(
  "access tokens: ES256 at+jwt with kid, iss, aud, sub, role, sid, acr; at most 15 minutes",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    const header = decodeProtectedHeader(person.tokens.accessToken);
    t.equal(header.alg, "ES256");
    t.equal(header.typ, ACCESS_TOKEN_TYPE);
    const claims = decodeJwt(person.tokens.accessToken);
    t.match(claims, {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: person.userId,
      role: "user",
      sid: person.tokens.sessionId,
      acr: "aal1",
    });
    t.ok((claims.exp ?? 0) - (claims.iat ?? 0) <= 900, "lifetime at most 15 minutes");
    const { keys } = await h.client.getJwks({});
    t.ok(
      keys.some((key) => key.kid === header.kid && key.alg === "ES256"),
      "its key is published",
    );
    t.match(await h.verifier.verify(person.tokens.accessToken), {
      kind: "user",
      userId: person.userId,
      role: "user",
    });
    t.equal(person.tokens.refreshToken.length >= 43, true, "refresh token has at least 256 bits");
  },
);

t.test(
  "forged, expired, wrong-audience, alg none and HS256-with-public-key tokens are rejected",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    const real = person.tokens.accessToken;
    const { kid } = decodeProtectedHeader(real);
    const claims = decodeJwt(real);

    const stranger = await generateKeyPair("ES256");
    const forged = await new SignJWT({ ...claims, role: "admin" })
      .setProtectedHeader({ alg: "ES256", kid: kid!, typ: ACCESS_TOKEN_TYPE })
      .sign(stranger.privateKey);
    t.ok(await rejected(h.verifier.verify(forged)), "a token signed by another key under our kid");

    const [head] = real.split(".");
    const tampered = `${head}.${Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url")}.${real.split(".")[2]}`;
    t.ok(await rejected(h.verifier.verify(tampered)), "a payload changed after signing");

    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: ACCESS_TOKEN_TYPE, kid })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
    t.ok(await rejected(h.verifier.verify(none)), "alg none");

    const publicJwk = (await h.client.getJwks({})).keys.find((key) => key.kid === kid)!;
    const hsHeader = Buffer.from(JSON.stringify({ alg: "HS256", typ: ACCESS_TOKEN_TYPE, kid })).toString(
      "base64url",
    );
    const hsBody = Buffer.from(JSON.stringify(claims)).toString("base64url");
    const hsSignature = createHmac("sha256", JSON.stringify(publicJwk))
      .update(`${hsHeader}.${hsBody}`)
      .digest("base64url");
    t.ok(
      await rejected(h.verifier.verify(`${hsHeader}.${hsBody}.${hsSignature}`)),
      "HS256 keyed with the public key",
    );

    const signWith = (mutate: (jwt: SignJWT) => SignJWT, typ = ACCESS_TOKEN_TYPE) =>
      h.domain.keys.signer().then(({ kid: signingKid, key }) =>
        mutate(
          new SignJWT({ sub: person.userId, role: "user", sid: person.tokens.sessionId }).setProtectedHeader({
            alg: "ES256",
            kid: signingKid,
            typ,
          }),
        )
          .setIssuedAt()
          .sign(key),
      );
    t.ok(
      await rejected(
        h.verifier.verify(
          await signWith((j) => j.setIssuer(ISSUER).setAudience("other").setExpirationTime("5m")),
        ),
      ),
      "wrong audience",
    );
    t.ok(
      await rejected(
        h.verifier.verify(
          await signWith((j) => j.setIssuer("https://evil").setAudience(AUDIENCE).setExpirationTime("5m")),
        ),
      ),
      "wrong issuer",
    );
    t.ok(
      await rejected(
        h.verifier.verify(
          await signWith((j) => j.setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m"), "JWT"),
        ),
      ),
      "an ID-token-like typ",
    );
    const expired = await signWith((j) =>
      j
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60),
    );
    t.ok(await rejected(h.verifier.verify(expired)), "expired");

    const viaServer = await failure(h.client.listSessions({ pageSize: 0, pageToken: "" }, h.bearer(forged)));
    t.equal(viaServer.reason, "TOKEN_INVALID", "the server refuses it too");
  },
);

t.test(
  "signing keys are sealed at rest; rotation publishes before signing and keeps old keys until their tokens expire",
  async (t) => {
    const h = await startHarness(t, { keyActivationDelaySeconds: 120 });
    const [stored] = await h.sql<
      { private_key_sealed: string }[]
    >`select private_key_sealed from auth.signing_keys`;
    t.notMatch(stored!.private_key_sealed, /"d"|"kty"/, "no private JWK in the clear");

    const admin = await h.admin();
    const before = await h.register();
    const oldKid = decodeProtectedHeader(before.tokens.accessToken).kid;
    const rotated = await h.client.rotateSigningKey({}, admin.call);
    const published = (await h.client.getJwks({})).keys.map((key) => key.kid);
    t.ok(
      published.includes(rotated.kid) && published.includes(oldKid!),
      "new key published beside the old one",
    );
    const stillOld = await h.register();
    t.equal(decodeProtectedHeader(stillOld.tokens.accessToken).kid, oldKid, "the new key does not sign yet");

    h.clock.advanceSeconds(121);
    const afterActivation = await h.register();
    t.equal(
      decodeProtectedHeader(afterActivation.tokens.accessToken).kid,
      rotated.kid,
      "the new key signs after the delay",
    );
    t.ok(
      (await h.client.getJwks({})).keys.some((key) => key.kid === oldKid),
      "the old key stays while its tokens live",
    );

    h.clock.advanceSeconds(900 + 61);
    h.clock.advanceSeconds(31); // past the key ring's reload interval
    const later = (await h.client.getJwks({})).keys.map((key) => key.kid);
    t.notOk(later.includes(oldKid!), "the old key leaves once its last token expired");
    t.ok(later.includes(rotated.kid));

    // The tokens from before have expired on auth's clock by now: sign in again.
    const person = await h.register();
    const user = await failure(h.client.rotateSigningKey({}, h.bearer(person.tokens)));
    t.equal(user.reason, "PERMISSION_DENIED", "only admins rotate");

    const adminNow = await h.admin();
    const [first, second] = await Promise.all([
      h.client.rotateSigningKey({}, adminNow.call),
      h.client.rotateSigningKey({}, adminNow.call),
    ]);
    t.equal(first.kid, second.kid, "two rotations at once make one new key, and both name it");
    t.ok(
      (await h.client.getJwks({})).keys.some((key) => key.kid === first.kid),
      "it is published",
    );
  },
);
