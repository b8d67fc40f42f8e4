import { Secret, TOTP } from "otpauth";
import t from "tap";
import { createSecrets } from "../src/domain/secrets";
import { failure, type Harness, PASSWORD, SIGNING_KEY_SECRET, startHarness } from "./harness";

const NEXT_SECRET = "the-next-signing-key-secret-of-32-chars-or-more";
const codeAt = (secret: string, at: Date) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), period: 30, timestamp: at.getTime() });

async function mfaLogin(h: Harness, email: string, code: string) {
  const response = await h.client.login({ identifier: email, password: PASSWORD, deviceName: "phone" });
  if (response.result?.$case !== "mfaChallenge") throw new Error("expected an MFA challenge");
  return h.client.completeMfaLogin({ challengeToken: response.result.value.challengeToken, code });
}

t.test(
  "SIGNING_KEY_SECRET rotates in place: sessions, API keys, TOTP and backup codes keep working, and what was sealed moves to the new secret",
  async (t) => {
    // Before: everything made under the first secret.
    const first = await startHarness(t);
    const admin = await first.admin();
    const person = await first.register();
    const enrolment = await first.client.enrollTotp({}, first.bearer(person.tokens));
    const { backupCodes } = await first.client.confirmTotp(
      { code: codeAt(enrolment.secret, first.clock.now), password: PASSWORD },
      first.bearer(person.tokens),
    );
    const used = await first.client.createApiKey(
      { partnerId: "acme", name: "used", scopes: ["users:sync"], requestId: "r1" },
      admin.call,
    );
    const idle = await first.client.createApiKey(
      { partnerId: "acme", name: "idle", scopes: ["users:sync"], requestId: "r2" },
      admin.call,
    );
    const other = await first.register();
    const [oldKey] = await first.sql<{ kid: string }[]>`select kid from auth.signing_keys`;

    // Rotated: the new secret, the old one listed as previous.
    const rotated = await startHarness(t, {
      databaseUrl: first.databaseUrl,
      signingKeySecret: NEXT_SECRET,
      previousSigningKeySecrets: [SIGNING_KEY_SECRET],
    });
    const prefix = createSecrets(NEXT_SECRET).currentPrefix;
    const keys = await rotated.sql<{ kid: string; sealed: string }[]>`
      select kid, private_key_sealed as sealed from auth.signing_keys order by created_at`;
    t.equal(keys.length, 2, "start-up rotated the signing key sealed under the old secret");
    t.equal(keys[0]!.kid, oldKey!.kid);
    t.ok(keys[1]!.sealed.startsWith(prefix), "the new signing key is sealed under the new secret");

    const refreshed = await rotated.client.refreshToken({ refreshToken: other.tokens.refreshToken });
    t.ok(refreshed.tokens?.accessToken, "a refresh token digested under the old secret refreshes");
    t.ok(
      await rotated.verifier.verify(refreshed.tokens!.accessToken),
      "signed by the old key until the new one activates",
    );

    const hashBefore = await rotated.sql<{ secret_hash: string }[]>`
      select secret_hash from auth.api_keys where name = 'used'`;
    t.same(await rotated.client.verifyApiKey({ apiKey: used.secret }, await rotated.serviceCall("edge")), {
      keyId: used.apiKey?.keyId,
      partnerId: "acme",
      scopes: ["users:sync"],
    });
    const [hashAfter] = await rotated.sql<{ secret_hash: string }[]>`
      select secret_hash from auth.api_keys where name = 'used'`;
    t.not(
      hashAfter!.secret_hash,
      hashBefore[0]!.secret_hash,
      "a used key is digested again under the new secret",
    );
    t.equal(hashAfter!.secret_hash, createSecrets(NEXT_SECRET).digest(used.secret));

    t.equal(await rotated.domain.mfa.resealTotpSecrets(100), 1, "the enrolled TOTP secret is resealed");
    t.equal(await rotated.domain.mfa.resealTotpSecrets(100), 0, "and only once");
    const [totp] = await rotated.sql<{ sealed: string }[]>`
      select totp_secret_sealed as sealed from auth.accounts where id = ${person.userId}`;
    t.ok(totp!.sealed.startsWith(prefix));
    rotated.clock.advanceSeconds(30);
    t.ok(
      await mfaLogin(rotated, person.email, codeAt(enrolment.secret, rotated.clock.now)),
      "TOTP still signs in",
    );
    rotated.clock.advanceSeconds(30);
    t.ok(
      await mfaLogin(rotated, person.email, backupCodes[0]!),
      "a backup code digested under the old secret works",
    );

    // The old secret dropped: what moved keeps working; what was never used again does not.
    const after = await startHarness(t, { databaseUrl: first.databaseUrl, signingKeySecret: NEXT_SECRET });
    after.clock.advanceSeconds(3600);
    await after.domain.keys.maintain();
    const tokens = await after.login(other.email);
    t.ok(await after.verifier.verify(tokens.accessToken), "the new signing key signs");
    t.ok(await after.client.refreshToken({ refreshToken: refreshed.tokens!.refreshToken }));
    t.ok(await after.client.verifyApiKey({ apiKey: used.secret }, await after.serviceCall("edge")));
    t.ok(await mfaLogin(after, person.email, codeAt(enrolment.secret, after.clock.now)));
    t.equal(
      (await failure(after.client.verifyApiKey({ apiKey: idle.secret }, await after.serviceCall("edge"))))
        .reason,
      "API_KEY_INVALID",
      "a key unused since the rotation needs the previous secret listed",
    );
  },
);
