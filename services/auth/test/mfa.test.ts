import { decodeJwt } from "jose";
import { Secret, TOTP } from "otpauth";
import t, { type Test } from "tap";
import type { Notifier } from "../src/domain/ports";
import { failure, type Harness, PASSWORD, startHarness } from "./harness";

const codeAt = (secret: string, at: Date) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), period: 30, timestamp: at.getTime() });

/** A person with TOTP enabled; the clock is moved to a fresh 30 s step after each use. */
async function enrolled(t: Test, h: Harness) {
  const person = await h.register();
  const enrolment = await h.client.enrollTotp({}, h.bearer(person.tokens));
  t.match(enrolment.otpauthUri, /^otpauth:\/\/totp\/Parley:.+secret=/);
  const wrong = await failure(
    h.client.confirmTotp({ code: "000000", password: PASSWORD }, h.bearer(person.tokens)),
  );
  t.equal(wrong.reason, "INVALID_CREDENTIALS");
  // A stolen access token is not enough to turn TOTP on (and lock the owner out): the password is asked.
  const noPassword = await failure(
    h.client.confirmTotp(
      { code: codeAt(enrolment.secret, h.clock.now), password: "not the password" },
      h.bearer(person.tokens),
    ),
  );
  t.equal(noPassword.reason, "INVALID_CREDENTIALS", "a right code with a wrong password is refused");
  const still = await h.client.login({ identifier: person.email, password: PASSWORD, deviceName: "phone" });
  t.equal(still.result?.$case, "tokens", "and TOTP stays off");
  const { backupCodes } = await h.client.confirmTotp(
    { code: codeAt(enrolment.secret, h.clock.now), password: PASSWORD },
    h.bearer(person.tokens),
  );
  h.clock.advanceSeconds(30);
  return { ...person, secret: enrolment.secret, backupCodes };
}

async function challenge(h: Harness, email: string) {
  const response = await h.client.login({ identifier: email, password: PASSWORD, deviceName: "phone" });
  if (response.result?.$case !== "mfaChallenge") throw new Error("expected an MFA challenge");
  return response.result.value.challengeToken;
}

t.test(
  "TOTP: enrol, confirm, login asks for it, aal2 tokens, and a code is never accepted twice",
  async (t) => {
    const h = await startHarness(t);
    const person = await enrolled(t, h);
    t.equal(person.backupCodes.length, 10);
    t.equal(new Set(person.backupCodes).size, 10);
    t.equal((await failure(h.client.enrollTotp({}, h.bearer(person.tokens)))).reason, "TOTP_ALREADY_ENABLED");

    const token = await challenge(h, person.email);
    t.equal(
      (await failure(h.client.completeMfaLogin({ challengeToken: token, code: "123456" }))).reason,
      "INVALID_CREDENTIALS",
    );
    const code = codeAt(person.secret, h.clock.now);
    const { tokens } = await h.client.completeMfaLogin({ challengeToken: token, code });
    t.match(decodeJwt(tokens!.accessToken), { acr: "aal2", amr: ["pwd", "otp"] });
    t.equal(
      (await failure(h.client.completeMfaLogin({ challengeToken: token, code }))).reason,
      "MFA_CHALLENGE_INVALID",
      "a challenge signs in once",
    );
    const replay = await failure(
      h.client.completeMfaLogin({ challengeToken: await challenge(h, person.email), code }),
    );
    t.equal(replay.reason, "INVALID_CREDENTIALS", "the same code in the same window is refused");
    h.clock.advanceSeconds(301);
    const stale = await challenge(h, person.email);
    h.clock.advanceSeconds(301);
    t.equal(
      (
        await failure(
          h.client.completeMfaLogin({ challengeToken: stale, code: codeAt(person.secret, h.clock.now) }),
        )
      ).reason,
      "MFA_CHALLENGE_INVALID",
      "challenges expire",
    );
  },
);

t.test("backup codes work once each; regenerating replaces them", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  const [first, second] = person.backupCodes;
  t.ok(
    await h.client.completeMfaLogin({
      challengeToken: await challenge(h, person.email),
      code: first!.toUpperCase(),
    }),
  );
  t.equal(
    (
      await failure(
        h.client.completeMfaLogin({ challengeToken: await challenge(h, person.email), code: first! }),
      )
    ).reason,
    "INVALID_CREDENTIALS",
  );
  const [stored] = await h.sql<{ n: number }[]>`
    select count(*)::int as n from auth.backup_codes where code_hash = ${first!} or code_hash = ${first!.replace("-", "")}`;
  t.equal(stored!.n, 0, "codes are stored hashed");
  const { backupCodes } = await h.client.regenerateBackupCodes(
    { code: codeAt(person.secret, h.clock.now) },
    h.bearer(person.tokens),
  );
  h.clock.advanceSeconds(30);
  t.equal(
    (
      await failure(
        h.client.completeMfaLogin({ challengeToken: await challenge(h, person.email), code: second! }),
      )
    ).reason,
    "INVALID_CREDENTIALS",
    "old codes are gone",
  );
  t.ok(
    await h.client.completeMfaLogin({
      challengeToken: await challenge(h, person.email),
      code: backupCodes[0]!,
    }),
  );
});

t.test("a locked account refuses even the right TOTP code", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  const token = await challenge(h, person.email);
  for (let i = 0; i < 5; i++)
    await failure(h.client.completeMfaLogin({ challengeToken: token, code: "000000" }));
  const locked = await failure(
    h.client.completeMfaLogin({ challengeToken: token, code: codeAt(person.secret, h.clock.now) }),
  );
  t.equal(locked.reason, "TOO_MANY_ATTEMPTS");
  t.ok((locked.retryAfterSeconds ?? 0) > 0);
});

t.test("signing in again with the password buys no fresh guesses at the code", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  const first = await challenge(h, person.email);
  for (let i = 0; i < 3; i++)
    await failure(h.client.completeMfaLogin({ challengeToken: first, code: "000000" }));
  const second = await challenge(h, person.email);
  for (let i = 0; i < 2; i++)
    await failure(h.client.completeMfaLogin({ challengeToken: second, code: "000000" }));
  const locked = await failure(
    h.client.completeMfaLogin({ challengeToken: second, code: codeAt(person.secret, h.clock.now) }),
  );
  t.equal(locked.reason, "TOO_MANY_ATTEMPTS", "five wrong codes across two challenges lock the codes");
});

t.test("guesses at the password lock out a challenge already handed out", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  const token = await challenge(h, person.email);
  for (let i = 0; i < 5; i++) await failure(h.login(person.email, "wrong password 123"));
  const locked = await failure(
    h.client.completeMfaLogin({ challengeToken: token, code: codeAt(person.secret, h.clock.now) }),
  );
  t.equal(locked.reason, "TOO_MANY_ATTEMPTS", "the right code on a locked account is refused");
});

t.test("disabling needs the password and a code", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  const code = codeAt(person.secret, h.clock.now);
  t.equal(
    (await failure(h.client.disableTotp({ password: "wrong password 1", code }, h.bearer(person.tokens))))
      .reason,
    "INVALID_CREDENTIALS",
  );
  h.clock.advanceSeconds(30);
  await h.client.disableTotp(
    { password: PASSWORD, code: codeAt(person.secret, h.clock.now) },
    h.bearer(person.tokens),
  );
  t.ok(await h.login(person.email), "login no longer asks for a code");
  t.equal(
    (await failure(h.client.disableTotp({ password: PASSWORD, code }, h.bearer(person.tokens)))).reason,
    "TOTP_NOT_ENABLED",
  );
});

t.test(
  "password reset: throttled, single-use, expiring, delivered through the outbox, never bypassing MFA",
  async (t) => {
    const sent: Array<{ to: string; token: string }> = [];
    const notices: Array<{ to: string }> = [];
    const notifier: Notifier = {
      sendPasswordReset: async (message) => void sent.push(message),
      sendNoAccountNotice: async (message) => void notices.push(message),
    };
    const h = await startHarness(t);
    const plain = await h.register();
    const drain = () => outboxDrain(h, notifier);

    for (const malformed of ["bob@gmial", "x".repeat(300), `${"a".repeat(250)}@example.com`]) {
      const refused = await failure(h.client.requestPasswordReset({ identifier: malformed }));
      t.equal(refused.reason, "VALIDATION_FAILED", "an identifier that is no address is refused");
      t.equal(refused.fieldViolations[0]?.field, "identifier");
    }
    await h.client.requestPasswordReset({ identifier: "nobody@example.com" });
    await h.client.requestPasswordReset({ identifier: plain.email });
    const queued = await h.sql<{ kind: string }[]>`
      select payload ->> 'kind' as kind from auth.outbox where payload ->> 'kind' like 'notify.%' order by kind`;
    t.same(
      queued.map((row) => row.kind),
      ["notify.no_account", "notify.password_reset"],
      "a link for the account, a no-account notice for the unknown address: the same work either way; nothing for the malformed ones",
    );
    await drain();
    t.equal(sent.length, 1);
    t.same(
      notices.map((n) => n.to),
      ["nobody@example.com"],
    );
    const [left] = await h.sql<{ count: number }[]>`
      select count(*)::int as count from auth.outbox where payload ->> 'kind' = 'notify.password_reset'`;
    t.equal(left!.count, 0, "the delivered token does not stay in the table");

    const token = sent[0]!.token;
    await h.client.resetPassword({ resetToken: token, newPassword: "reset passphrase one", mfaCode: "" });
    t.ok(await h.login(plain.email, "reset passphrase one"));
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: plain.tokens.refreshToken }))).reason,
      "SESSION_REVOKED",
    );
    t.equal(
      (
        await failure(
          h.client.resetPassword({ resetToken: token, newPassword: "reset passphrase two", mfaCode: "" }),
        )
      ).reason,
      "RESET_TOKEN_INVALID",
      "single use",
    );

    await h.client.requestPasswordReset({ identifier: plain.email });
    await drain();
    h.clock.advanceSeconds(31 * 60);
    t.equal(
      (
        await failure(
          h.client.resetPassword({
            resetToken: sent[1]!.token,
            newPassword: "reset passphrase two",
            mfaCode: "",
          }),
        )
      ).reason,
      "RESET_TOKEN_INVALID",
      "expired",
    );

    const guarded = await enrolled(t, h);
    await h.client.requestPasswordReset({ identifier: guarded.email });
    await drain();
    const mfaToken = sent[2]!.token;
    t.equal(
      (
        await failure(
          h.client.resetPassword({
            resetToken: mfaToken,
            newPassword: "reset passphrase three",
            mfaCode: "",
          }),
        )
      ).reason,
      "MFA_CODE_REQUIRED",
    );
    t.equal(
      (
        await failure(
          h.client.resetPassword({
            resetToken: mfaToken,
            newPassword: "reset passphrase three",
            mfaCode: "000000",
          }),
        )
      ).reason,
      "INVALID_CREDENTIALS",
    );
    await h.client.resetPassword({
      resetToken: mfaToken,
      newPassword: "reset passphrase three",
      mfaCode: codeAt(guarded.secret, h.clock.now),
    });
    const after = await h.client.login({
      identifier: guarded.email,
      password: "reset passphrase three",
      deviceName: "",
    });
    t.equal(after.result?.$case, "mfaChallenge", "TOTP is still required after a reset");

    // Two requests above; the limit is 5 an hour.
    for (let i = 0; i < 3; i++) await h.client.requestPasswordReset({ identifier: plain.email });
    t.equal(
      (await failure(h.client.requestPasswordReset({ identifier: plain.email }))).reason,
      "TOO_MANY_ATTEMPTS",
    );
  },
);

async function outboxDrain(h: Harness, notifier: Notifier) {
  const { createOutboxWorker } = await import("../src/workers/outbox");
  const { createAuthStore } = await import("../src/persistence/store");
  const { createLogger } = await import("@parley/kit/log");
  const postgres = (await import("postgres")).default;
  const sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await createOutboxWorker({
      sql,
      listen: false,
      accounts: createAuthStore(sql, () => new Date()),
      profiles: { ensureProfile: async () => {} },
      notifier,
      notices: { notify: async () => {}, notifyMany: async () => {}, forgetLoginSession: async () => {} },
      effects: {
        setProfileStatus: async () => {},
        endSessions: async () => {},
        forgetAuthor: async () => {},
        sendVerificationCode: async () => {},
      },
      log: createLogger({ service: "auth", level: "silent" }),
      intervalMs: 1000,
    }).drainOnce();
  } finally {
    await sql.end();
  }
}

t.test("a new password spends every reset link still outstanding", async (t) => {
  const sent: Array<{ to: string; token: string }> = [];
  const h = await startHarness(t);
  const person = await h.register();
  const drain = () =>
    outboxDrain(h, {
      sendPasswordReset: async (message) => void sent.push(message),
      sendNoAccountNotice: async () => {},
    });
  const reset = (resetToken: string, newPassword: string) =>
    h.client.resetPassword({ resetToken, newPassword, mfaCode: "" });

  await h.client.requestPasswordReset({ identifier: person.email });
  await h.client.requestPasswordReset({ identifier: person.email });
  await drain();
  await reset(sent[1]!.token, "reset passphrase one");
  t.equal(
    (await failure(reset(sent[0]!.token, "reset passphrase two"))).reason,
    "RESET_TOKEN_INVALID",
    "the older link died with the reset",
  );

  await h.client.requestPasswordReset({ identifier: person.email });
  await drain();
  const tokens = await h.login(person.email, "reset passphrase one");
  await h.client.changePassword(
    { currentPassword: "reset passphrase one", newPassword: "changed passphrase" },
    h.bearer(tokens),
  );
  t.equal(
    (await failure(reset(sent[2]!.token, "reset passphrase three"))).reason,
    "RESET_TOKEN_INVALID",
    "and so did the one outstanding at a password change",
  );
});

t.test("a new password spends the MFA challenges won with the old one", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  // Someone who has the old password got as far as the second step.
  const pending = await challenge(h, person.email);
  await h.client.changePassword(
    { currentPassword: PASSWORD, newPassword: "changed passphrase" },
    h.bearer(person.tokens),
  );
  t.equal(
    (
      await failure(
        h.client.completeMfaLogin({ challengeToken: pending, code: codeAt(person.secret, h.clock.now) }),
      )
    ).reason,
    "MFA_CHALLENGE_INVALID",
    "the challenge died with the old password",
  );
});

t.test("security notices are outbox rows of the change's transaction: sign-in, MFA, password", async (t) => {
  const h = await startHarness(t);
  const person = await enrolled(t, h);
  // From a device the person has not used: the registering one would raise no sign-in notice.
  const login = await h.loginFrom({ ip: "198.51.100.7", userAgent: "a new phone" }, person.email);
  if (login.result?.$case !== "mfaChallenge") throw new Error("expected an MFA challenge");
  await h.client.completeMfaLogin({
    challengeToken: login.result.value.challengeToken,
    code: codeAt(person.secret, h.clock.now),
  });
  const notices = (
    await h.sql<{ payload: { payload: { userId: string; notice: string; data: Record<string, string> } } }[]>`
      select payload from auth.outbox where payload ->> 'kind' = 'notify.security' order by position`
  ).map((row) => row.payload.payload);
  const kinds = notices.map((notice) => notice.notice);
  t.same(
    kinds.sort(),
    ["mfa_changed", "new_sign_in"],
    "enabling TOTP and the MFA sign-in; registering is not one",
  );
  t.ok(notices.every((notice) => notice.userId === person.userId));
  t.match(
    notices.find((notice) => notice.notice === "new_sign_in")?.data,
    { ip: "198.51.100.7", user_agent: "a new phone" },
    "the notice names the device the challenge was asked from",
  );

  await h.client.logout({}, h.bearer(person.tokens));
  const [forget] = await h.sql`select payload from auth.outbox where payload ->> 'kind' = 'devices.forget'`;
  t.match(
    forget?.payload.payload,
    { loginSessionId: String },
    "a logout tells user to forget the session's push devices",
  );
});
