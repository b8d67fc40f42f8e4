import { newId } from "@parley/kit/ids";
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from "jose";
import t from "tap";
import { createTokenVerifier, signAccessToken } from "../src/auth";
import { isAppError } from "../src/errors";

const ISSUER = "https://auth.parley.test";
const AUDIENCE = "parley";
const claims = { sub: newId(), role: "user" as const, sid: newId(), acr: "aal1" as const, amr: ["pwd"] };

async function signingKey() {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = newId();
  return {
    kid,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" },
    sign: (overrides: { issuer?: string; audience?: string; ttlSeconds?: number } = {}) =>
      signAccessToken({
        key: privateKey,
        kid,
        issuer: overrides.issuer ?? ISSUER,
        audience: overrides.audience ?? AUDIENCE,
        ttlSeconds: overrides.ttlSeconds ?? 300,
        claims,
      }),
  };
}

/**
 * A verifier over a JWKS endpoint that counts its fetches and can fail or change its keys,
 * on a clock the test moves.
 */
function verifierOver(
  initial: JSONWebKeySet,
  options: Partial<Parameters<typeof createTokenVerifier>[0]> = {},
) {
  const server = { jwks: initial, fetches: 0, failing: false };
  let clock = new Date();
  const verifier = createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    fetchJwks: async () => {
      server.fetches += 1;
      if (server.failing) throw new Error("auth is unreachable");
      return server.jwks;
    },
    now: () => clock,
    ...options,
  });
  const advanceMs = (ms: number) => {
    clock = new Date(clock.getTime() + ms);
  };
  return { server, verifier, advanceMs };
}

const reasonOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "accepted",
    (error: unknown) => (isAppError(error) ? error.reason : String(error)),
  );

t.test("iss, aud, typ, expiry and the algorithm are checked; nothing else passes", async (t) => {
  const key = await signingKey();
  const { verifier, advanceMs } = verifierOver({ keys: [key.jwk] });
  t.match(await verifier.verify(await key.sign()), { kind: "user", userId: claims.sub });
  t.equal(await reasonOf(verifier.verify(await key.sign({ issuer: "https://evil.test" }))), "TOKEN_INVALID");
  t.equal(await reasonOf(verifier.verify(await key.sign({ audience: "other" }))), "TOKEN_INVALID");
  const wrongType = await new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);
  t.equal(await reasonOf(verifier.verify(wrongType)), "TOKEN_INVALID", "an ID-token-style typ is refused");
  const hmac = await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", kid: key.kid, typ: "at+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode("a shared secret an attacker chose"));
  t.equal(
    await reasonOf(verifier.verify(hmac)),
    "TOKEN_INVALID",
    "the algorithm comes from us, not the token",
  );
  const [head, body, signature] = (await key.sign()).split(".");
  for (const blank of ["\t", "\n", " "])
    t.equal(
      await reasonOf(
        verifier.verify(`${head}.${body}.${signature!.slice(0, 8)}${blank}${signature!.slice(8)}`),
      ),
      "TOKEN_INVALID",
      `a signature with ${JSON.stringify(blank)} in it (the decoder would skip it; a header cannot carry it)`,
    );
  const shortLived = await key.sign({ ttlSeconds: 60 });
  advanceMs(120_000);
  t.equal(await reasonOf(verifier.verify(shortLived)), "TOKEN_INVALID", "expired");
});

t.test("an unknown kid refetches the keys at most once per cooldown", async (t) => {
  const first = await signingKey();
  const rotated = await signingKey();
  const { server, verifier, advanceMs } = verifierOver({ keys: [first.jwk] }, { refreshCooldownMs: 30_000 });
  await verifier.verify(await first.sign());
  t.equal(server.fetches, 1);
  server.jwks = { keys: [first.jwk, rotated.jwk] };
  advanceMs(31_000);
  t.ok(await verifier.verify(await rotated.sign()), "a key published after start is found");
  t.equal(server.fetches, 2);
  const stranger = await signingKey();
  for (let i = 0; i < 20; i++) await reasonOf(verifier.verify(await stranger.sign()));
  t.equal(server.fetches, 2, "junk kids within the cooldown fetch nothing");
});

t.test("a failed fetch cools down too, and a stale key set is refreshed so retired keys stop", async (t) => {
  const old = await signingKey();
  const current = await signingKey();
  const { server, verifier, advanceMs } = verifierOver(
    { keys: [old.jwk] },
    { refreshCooldownMs: 30_000, maxKeySetAgeMs: 600_000, cacheSize: 1 },
  );
  server.failing = true;
  t.equal(await reasonOf(verifier.verify(await old.sign())), "Error: auth is unreachable");
  t.equal(await reasonOf(verifier.verify(await old.sign())), "JWKS_UNAVAILABLE", "no refetch per request");
  t.equal(server.fetches, 1);
  server.failing = false;
  advanceMs(2_000);
  const oldToken = await old.sign({ ttlSeconds: 900 });
  t.ok(await verifier.verify(oldToken), "fetched again after a short wait");

  server.jwks = { keys: [current.jwk] };
  advanceMs(601_000);
  await verifier.verify(await current.sign({ ttlSeconds: 900 }));
  await new Promise((resolve) => setImmediate(resolve));
  const later = await old.sign({ ttlSeconds: 900 });
  t.equal(await reasonOf(verifier.verify(later)), "TOKEN_INVALID", "the retired key no longer verifies");
});

t.test(
  "a correctly signed token must say when it was issued and live no longer than tokens do",
  async (t) => {
    const key = await signingKey();
    const { verifier } = verifierOver({ keys: [key.jwk] });
    const nowSeconds = Math.floor(Date.now() / 1000);
    const signed = (times: { iat?: number; exp: number }) => {
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(times.exp);
      if (times.iat !== undefined) jwt.setIssuedAt(times.iat);
      return jwt.sign(key.privateKey);
    };
    const tenYears = 10 * 365 * 24 * 3600;
    t.equal(
      await reasonOf(verifier.verify(await signed({ iat: nowSeconds, exp: nowSeconds + tenYears }))),
      "TOKEN_INVALID",
      "a ten-year token is refused",
    );
    t.equal(
      await reasonOf(verifier.verify(await signed({ exp: nowSeconds + 300 }))),
      "TOKEN_INVALID",
      "a token without iat is refused",
    );
    t.equal(
      await reasonOf(verifier.verify(await signed({ iat: nowSeconds + 3600, exp: nowSeconds + 3900 }))),
      "TOKEN_INVALID",
      "a token issued an hour from now is refused",
    );
    t.equal(
      await reasonOf(verifier.verify(await signed({ iat: nowSeconds - 60, exp: nowSeconds + 900 + 6 }))),
      "TOKEN_INVALID",
      "a token one second past the maximum life plus tolerance is refused",
    );
    t.equal(
      await reasonOf(verifier.verify(await signed({ iat: nowSeconds - 60, exp: nowSeconds - 60 + 905 }))),
      "accepted",
      "the maximum life (15 minutes) plus the clock tolerance passes",
    );
    const short = verifierOver({ keys: [key.jwk] }, { maxLifetimeSeconds: 60 }).verifier;
    t.equal(
      await reasonOf(short.verify(await key.sign({ ttlSeconds: 300 }))),
      "TOKEN_INVALID",
      "the maximum is configurable",
    );
  },
);
