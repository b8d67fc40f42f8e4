// Nothing secret reaches a log: a representative whole-platform run at debug level — sign-up,
// sign-in, refresh and its reuse, TOTP, backup codes, password change and reset, API keys and a
// partner's calls, forged credentials, payments and their webhooks, a paid chat, and database
// errors mid-registration — with every line each service prints (stdout and stderr) scanned for
// argon2 hashes, JWTs, refresh tokens, API keys, TOTP secrets and otpauth URIs, backup codes,
// webhook and service secrets and passwords.
import { createHmac, randomUUID } from "node:crypto";
import { eventually, launchTestPlatform, type ServiceName, startSmtpReceiver } from "@parley/testing";
import { Secret, TOTP } from "otpauth";
import postgres from "postgres";
import t from "tap";
import { PASSWORD, world } from "./world";

/** What no log line may contain, whatever value it has. */
const SHAPES: Array<[string, RegExp]> = [
  ["argon2 hash", /\$argon2(id|i|d)\$/],
  ["JWT", /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}/],
  ["API key", /\bpk_[\w-]{20,}/],
  ["otpauth URI", /otpauth:\/\//],
  ["bearer credential", /Bearer [\w.~+/=-]{20,}/],
];

t.test("a representative run logs no secret, error paths included", async (t) => {
  const lines: Array<{ service: ServiceName; line: string }> = [];
  const debug = { LOG_LEVEL: "debug" };
  // Emails are sent (to a receiver in the test), so the test learns the reset token it looks for.
  const smtp = await startSmtpReceiver(t);
  const { platform, secrets, databaseUrl } = await launchTestPlatform(
    t,
    {
      auth: { ...debug, OUTBOX_INTERVAL_MS: "100" },
      user: { ...debug, SMTP_URL: smtp.url },
      billing: debug,
      session: debug,
      edge: debug,
    },
    { onLine: (service, line) => lines.push({ service, line }) },
  );
  const w = world(t, platform, secrets);
  const { call, ok } = w;
  /** Every secret value the run handles, looked for verbatim in the logs. */
  const known = new Map<string, string>([
    [secrets.signingKeySecret, "SIGNING_KEY_SECRET"],
    [secrets.pageTokenSecret, "PAGE_TOKEN_SECRET"],
    [secrets.webhookSecret, "WEBHOOK_SECRET"],
    [secrets.adminPassword, "the admin's password"],
    [PASSWORD, "a password"],
    ...Object.entries(secrets.services).map(
      ([name, value]) => [value, `${name}'s SERVICE_SECRET`] as [string, string],
    ),
  ]);
  const keep = (value: unknown, what: string) => {
    if (typeof value === "string" && value.length >= 6) known.set(value, what);
  };
  const keepTokens = (tokens: { access_token?: string; refresh_token?: string } | undefined) => {
    keep(tokens?.access_token, "an access token");
    keep(tokens?.refresh_token, "a refresh token");
  };

  // Sign-up and sign-in, the happy and the unhappy paths.
  const admin = await w.admin();
  keep(admin, "an access token");
  const person = await w.register("Log Scanner");
  keepTokens({ access_token: person.token, refresh_token: person.refreshToken });
  t.equal(
    (await call("POST", "/v1/auth/register", { body: { email: person.email, password: PASSWORD } })).status,
    409,
  );
  t.equal(
    (await call("POST", "/v1/auth/register", { body: { email: "a\u0000b@x.io", password: "whatever-123" } }))
      .status,
    400,
  );
  t.equal(
    (await call("POST", "/v1/auth/register", { body: { email: "weak@x.io", password: "123" } })).status,
    400,
  );
  t.equal(
    (
      await call("POST", "/v1/auth/login", {
        body: { identifier: "a\u0000b@x.io", password: "whatever-123" },
      })
    ).status,
    400,
  );
  for (const password of ["not the password", "also not it"])
    t.equal(
      (await call("POST", "/v1/auth/login", { body: { identifier: person.email, password } })).status,
      401,
    );

  // Refresh, and one with a token that was never issued.
  const refreshed = await ok("POST", "/v1/auth/token:refresh", {
    body: { refresh_token: person.refreshToken },
  });
  keepTokens(refreshed.tokens);
  const unknown = `${person.refreshToken.slice(0, -4)}AAAA`;
  keep(unknown, "a refresh token");
  t.equal((await call("POST", "/v1/auth/token:refresh", { body: { refresh_token: unknown } })).status, 401);
  const signedIn = await ok("POST", "/v1/auth/login", {
    body: { identifier: person.email, password: PASSWORD },
  });
  keepTokens(signedIn.tokens);
  const token: string = signedIn.tokens.access_token;

  // TOTP: enrolment, confirmation, an MFA login finished with a backup code, a wrong code.
  const enrolment = await ok("POST", "/v1/auth/totp:enroll", { token, body: {} });
  keep(enrolment.secret, "a TOTP secret");
  keep(enrolment.otpauth_uri, "an otpauth URI");
  const code = TOTP.generate({ secret: Secret.fromBase32(enrolment.secret), period: 30 });
  const confirmed = await ok("POST", "/v1/auth/totp:confirm", { token, body: { code, password: PASSWORD } });
  for (const backup of confirmed.backup_codes) keep(backup, "a backup code");
  const challenged = await ok("POST", "/v1/auth/login", {
    body: { identifier: person.email, password: PASSWORD },
  });
  const challenge: string = challenged.mfa_challenge.challenge_token;
  keep(challenge, "an MFA challenge token");
  t.equal(
    (await call("POST", "/v1/auth/login:mfa", { body: { challenge_token: challenge, code: "000000" } }))
      .status,
    401,
  );
  const completed = await ok("POST", "/v1/auth/login:mfa", {
    body: { challenge_token: challenge, code: confirmed.backup_codes[0] },
  });
  keepTokens(completed.tokens);

  // Password change and a reset (its token delivered by email through the outbox), with a backup code.
  const newPassword = "another passphrase, longer";
  keep(newPassword, "a password");
  await ok("POST", "/v1/auth/password:change", {
    token: completed.tokens.access_token,
    body: { current_password: PASSWORD, new_password: newPassword },
  });
  await ok("POST", "/v1/auth/password:requestReset", { body: { identifier: person.email } });
  const [resetMail] = await eventually(
    async () => smtp.received.filter((m) => m.subject === "Reset your Parley password"),
    (found) => found.length > 0,
  );
  const resetToken = /reset code in the app before .+? UTC: ([\w-]{16,})\./.exec(resetMail?.text ?? "")?.[1];
  t.ok(resetToken, "the reset token arrives by email");
  keep(resetToken, "a password reset token");
  const resetPassword = "a third passphrase, reset";
  keep(resetPassword, "a password");
  await ok("POST", "/v1/auth/password:reset", {
    body: { reset_token: resetToken, new_password: resetPassword, mfa_code: confirmed.backup_codes[1] },
  });

  // API keys and a partner's calls; forged and wrong credentials.
  const created = await ok("POST", "/v1/api-keys", {
    token: admin,
    body: {
      partner_id: "acme",
      name: "scanner",
      scopes: ["users:sync", "tokens:exchange"],
      request_id: randomUUID(),
    },
  });
  const apiKey: string = created.secret;
  keep(apiKey, "an API key");
  const partner = { "x-api-key": apiKey };
  await ok("POST", "/v1/partner/users:sync", {
    headers: partner,
    body: { record: { external_id: "ext-1", display_name: "Synced Person" } },
  });
  const exchanged = await ok("POST", "/v1/auth/token:exchange", {
    headers: partner,
    body: { external_id: "ext-1" },
  });
  keepTokens(exchanged.tokens);
  t.equal((await call("GET", "/v1/me", { headers: { "x-api-key": `pk_${"x".repeat(43)}` } })).status, 401);
  const forged = `${admin.split(".").slice(0, 2).join(".")}.${"A".repeat(86)}`;
  keep(forged, "a forged bearer token");
  t.equal((await call("GET", "/v1/me", { token: forged })).status, 401);
  await ok("GET", "/v1/api-keys", { token: admin });

  // Money: a top-up paid through a signed webhook, a forged one, a replay; a paid chat.
  const payer = await w.register("Paying Person");
  const topUp = await ok("POST", "/v1/me/topups", {
    token: payer.token,
    body: { amount: { amount_minor: "50000", currency: "INR" }, request_id: randomUUID() },
  });
  const event = JSON.stringify({
    event_id: `evt_${randomUUID()}`,
    payment_id: topUp.payment.payment_id,
    status: "succeeded",
    amount_minor: 50_000,
    currency: "INR",
  });
  const signature = (secret: string) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const mac = createHmac("sha256", secret).update(`${timestamp}.`).update(event).digest("hex");
    return { "parley-signature": `t=${timestamp},v1=${mac}`, "content-type": "application/json" };
  };
  const webhook = (secret: string) =>
    call("POST", "/v1/webhooks/payments/development", { body: event, headers: signature(secret) });
  t.equal((await webhook(secrets.webhookSecret)).status, 200, "a signed webhook credits");
  t.equal((await webhook(secrets.webhookSecret)).status, 200, "its replay changes nothing");
  t.equal((await webhook("not-the-webhook-secret-0123456789")).status, 400, "a forged one is refused");
  const expert = await w.expert();
  const sessionId = await w.chat(payer, expert);
  await w.say(payer, sessionId, "hello");
  await w.say(expert, sessionId, "namaste");
  const stranger = await w.register("Stranger");
  t.ok(
    [403, 404].includes((await call("GET", `/v1/sessions/${sessionId}`, { token: stranger.token })).status),
  );

  // Database errors with secrets among their parameters. A constraint no row meets makes every
  // registration's insert fail (its parameters hold the argon2 hash; Postgres's detail quotes
  // the row); then registrations while every connection of the database is terminated.
  const admin2 = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => admin2.end({ timeout: 5 }));
  await admin2`alter table auth.accounts add constraint log_test_refuse_all check (false) not valid`;
  const refused = await call("POST", "/v1/auth/register", {
    body: { email: `refused-${randomUUID()}@example.com`, password: PASSWORD },
  });
  t.equal(refused.status, 500, "a failing insert is an internal error to the caller");
  await admin2`alter table auth.accounts drop constraint log_test_refuse_all`;
  const database = new URL(databaseUrl).pathname.slice(1);
  const statuses: number[] = [];
  for (let round = 0; round < 3; round++) {
    const registering = Array.from({ length: 3 }, () =>
      call("POST", "/v1/auth/register", {
        body: { email: `storm-${randomUUID()}@example.com`, password: PASSWORD },
      }),
    );
    await admin2`select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = ${database} and pid <> pg_backend_pid()`;
    for (const response of await Promise.all(registering)) statuses.push(response.status);
  }
  t.comment(`registrations under terminations: ${JSON.stringify(statuses)}`);

  await platform.stop();

  t.ok(lines.length > 100, `the run logged (${lines.length} lines)`);
  t.ok(
    lines.some(({ service, line }) => service === "auth" && line.includes("Failed query: insert into")),
    "the failed registration insert was logged, with its SQL",
  );
  const leaks: string[] = [];
  for (const { service, line } of lines) {
    for (const [what, shape] of SHAPES)
      if (shape.test(line)) leaks.push(`${service}: ${what}: ${line.slice(0, 300)}`);
    for (const [value, what] of known)
      if (line.includes(value))
        leaks.push(`${service}: ${what}: ${line.split(value).join("<SECRET>").slice(0, 300)}`);
  }
  t.same(leaks, [], "no log line carries a secret");
});
