import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import t from "tap";
import { createAuthStore } from "../src/persistence/store";
import { failure, PASSWORD, startHarness, uniqueEmail } from "./harness";

t.test("register validates input and refuses duplicates", async (t) => {
  const h = await startHarness(t);
  const register = (fields: { email?: string; phone?: string; password?: string }) =>
    h.client.register({
      email: "",
      phone: "",
      password: PASSWORD,
      displayName: "",
      deviceName: "",
      ...fields,
    });
  t.equal(
    (await failure(register({ email: uniqueEmail(), password: "short1!" }))).reason,
    "PASSWORD_TOO_SHORT",
  );
  t.equal(
    (await failure(register({ email: uniqueEmail(), password: "x".repeat(129) }))).reason,
    "PASSWORD_TOO_LONG",
  );
  t.equal(
    (await failure(register({ email: uniqueEmail(), password: "password1" }))).reason,
    "PASSWORD_TOO_COMMON",
  );
  t.equal(
    (await failure(register({ email: uniqueEmail(), password: "Qwertyuiop" }))).reason,
    "PASSWORD_TOO_COMMON",
    "case-insensitive",
  );
  const bad = await failure(register({ email: "not-an-email" }));
  t.equal(bad.reason, "VALIDATION_FAILED");
  t.same(
    bad.fieldViolations.map((v) => v.field),
    ["email"],
  );
  t.equal((await failure(register({ phone: "98123" }))).reason, "VALIDATION_FAILED");
  t.equal((await failure(register({}))).reason, "VALIDATION_FAILED", "email or phone is required");

  const email = uniqueEmail();
  await register({ email: email.toUpperCase() });
  const duplicate = await failure(register({ email }));
  t.equal(duplicate.reason, "ACCOUNT_EXISTS", "emails compare case-insensitively");

  const byPhone = await register({ phone: "+919812345678" });
  t.equal(byPhone.account?.phone, "+919812345678");
  t.ok(await h.login("+919812345678"), "phone numbers sign in");
});

t.test("passwords up to 128 characters are used whole, never truncated", async (t) => {
  const h = await startHarness(t);
  const long = `${"abcdefgh".repeat(15)}z1234567`;
  t.equal(long.length, 128);
  const person = await h.register({ password: long });
  t.ok(await h.login(person.email, long));
  const truncated = await failure(h.login(person.email, long.slice(0, 127)));
  t.equal(truncated.reason, "INVALID_CREDENTIALS");
});

t.test(
  "login: the same error for an unknown account and a wrong password, in about the same time",
  async (t) => {
    const h = await startHarness(t, { policy: { accountAttemptLimit: 100 } });
    const person = await h.register();
    const timed = async (identifier: string) => {
      const started = process.hrtime.bigint();
      const error = await failure(h.login(identifier, "wrong password 123"));
      return { reason: error.reason, code: error.code, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    };
    await timed(person.email);
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      const w = await timed(person.email);
      const u = await timed(uniqueEmail());
      t.same([w.reason, w.code], [u.reason, u.code]);
      wrong.push(w.ms);
      unknown.push(u.ms);
    }
    t.equal((await timed(person.email)).reason, "INVALID_CREDENTIALS");
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const ratio = median(unknown) / median(wrong);
    // An unknown account that skipped argon2id would answer ~20× sooner; the bounds are wide
    // because hashing runs at the lowest priority, which a busy machine stretches unevenly.
    t.ok(
      ratio > 0.25 && ratio < 4,
      `unknown/wrong median time ratio ${ratio.toFixed(2)} (both run argon2id)`,
    );
  },
);

t.test(
  "lockout: after 5 failures even the right password is refused with retry-after, until the window passes",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    for (let i = 0; i < 5; i++)
      t.equal((await failure(h.login(person.email, "wrong password 123"))).reason, "INVALID_CREDENTIALS");
    const locked = await failure(h.login(person.email));
    t.equal(locked.reason, "TOO_MANY_ATTEMPTS");
    t.equal(locked.kind, "resource_exhausted");
    t.ok((locked.retryAfterSeconds ?? 0) > 0, "says when to retry");
    const lockedUnknown = uniqueEmail();
    for (let i = 0; i < 5; i++) await failure(h.login(lockedUnknown, "wrong password 123"));
    t.equal(
      (await failure(h.login(lockedUnknown))).reason,
      "TOO_MANY_ATTEMPTS",
      "unknown identifiers lock the same way",
    );

    h.clock.advanceSeconds(901);
    t.ok(await h.login(person.email), "the lock lifts after the window");
  },
);

t.test(
  "a right password forgets the identifier's and the account's failures, in the session's own statement",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    const counted = async () =>
      (
        await h.sql<{ count: number }[]>`
          select count(*)::int as count from auth.attempt_counters
          where key in (${`login:id:${person.email}`}, ${`login:acct:${person.userId}`})`
      )[0]!.count;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++)
        t.equal((await failure(h.login(person.email, "wrong password 123"))).reason, "INVALID_CREDENTIALS");
      t.equal(await counted(), 2, "four failures counted under the identifier and the account");
      t.ok(await h.login(person.email), "the fifth attempt, right, signs in");
      t.equal(await counted(), 0, "and both counters are gone");
    }
  },
);

t.test(
  "a login identifier that is neither an email address nor a phone number is refused as malformed",
  async (t) => {
    const h = await startHarness(t);
    // Over 2,700 characters such a key no longer fits the attempt counters' index: it was a 500.
    for (const identifier of ["no-at-sign", "x".repeat(3_000), `${"a".repeat(3_000)}@example.com`]) {
      const refused = await failure(h.login(identifier));
      t.equal(refused.reason, "VALIDATION_FAILED");
      t.equal(refused.fieldViolations[0]?.field, "identifier");
    }
    const [counters] = await h.sql<{ count: number }[]>`
    select count(*)::int as count from auth.attempt_counters where key like 'login:id:%'`;
    t.equal(counters!.count, 0, "and counted nowhere");
  },
);

t.test("one lock per account: guesses through its email lock its phone too", async (t) => {
  const h = await startHarness(t, { policy: { ipAttemptLimit: 100 } });
  const email = uniqueEmail();
  const phone = `+9198${String(Date.now()).slice(-8)}`;
  await h.client.register({ email, phone, password: PASSWORD, displayName: "Two Ways", deviceName: "" });
  for (let i = 0; i < 3; i++) await failure(h.login(email, "wrong password 123"));
  for (let i = 0; i < 2; i++) await failure(h.login(phone, "wrong password 123"));
  const locked = await failure(h.login(phone));
  t.equal(locked.reason, "TOO_MANY_ATTEMPTS", "five guesses in all lock the account, whichever way in");
  t.equal((await failure(h.login(email))).reason, "TOO_MANY_ATTEMPTS");
  h.clock.advanceSeconds(901);
  t.ok(await h.login(phone), "the lock lifts after the window");
});

t.test(
  "one login counts its identifier, its IP and its account in one call, known or unknown alike",
  async (t) => {
    const calls: string[][] = [];
    const h = await startHarness(t, {
      limiter: (postgres) => ({
        ...postgres,
        consume: (counters) => {
          calls.push(counters.map((c) => c.key));
          return postgres.consume(counters);
        },
      }),
    });
    const person = await h.register();
    calls.length = 0;
    await failure(h.login(person.email, "wrong password 123"));
    const unknown = uniqueEmail();
    await failure(h.login(unknown, "wrong password 123"));
    t.same(calls, [
      [`login:id:${person.email}`, "login:ip:127.0.0.1", `login:acct:${person.userId}`],
      [`login:id:${unknown}`, "login:ip:127.0.0.1", `login:acct:unknown:${unknown}`],
    ]);
  },
);

t.test("guesses at an identifier before it has an account still count once it has one", async (t) => {
  const h = await startHarness(t);
  const email = uniqueEmail();
  for (let i = 0; i < 5; i++)
    t.equal((await failure(h.login(email, "wrong password 123"))).reason, "INVALID_CREDENTIALS");
  await h.register({ email });
  t.equal((await failure(h.login(email))).reason, "TOO_MANY_ATTEMPTS", "the identifier's counter holds");
});

t.test("per-IP counter: many identifiers from one address are throttled", async (t) => {
  const h = await startHarness(t, { policy: { ipAttemptLimit: 3 } });
  for (let i = 0; i < 3; i++) await failure(h.login(uniqueEmail(), "wrong password 123"));
  t.equal((await failure(h.login(uniqueEmail(), "wrong password 123"))).reason, "TOO_MANY_ATTEMPTS");
});

t.test("concurrent guesses cannot slip past the limit", async (t) => {
  const h = await startHarness(t);
  const person = await h.register();
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, () =>
      failure(h.login(person.email, "wrong password 123")).then((e) => e.reason),
    ),
  );
  t.equal(
    outcomes.filter((reason) => reason === "INVALID_CREDENTIALS").length,
    5,
    "exactly the limit was checked",
  );
});

t.test(
  "sessions: list with device and IP, revoke one, logout; change password revokes the others",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    const laptop = await h.login(person.email);
    const phone = await h.login(person.email);
    const listed = await h.client.listSessions({ pageSize: 2, pageToken: "" }, h.bearer(laptop));
    t.equal(listed.sessions.length, 2);
    t.ok(listed.nextPageToken, "paged");
    const rest = await h.client.listSessions(
      { pageSize: 2, pageToken: listed.nextPageToken },
      h.bearer(laptop),
    );
    const all = [...listed.sessions, ...rest.sessions];
    t.equal(all.length, 3);
    t.equal(
      all.filter((s) => s.current).map((s) => s.sessionId)[0],
      laptop.sessionId,
      "the caller's own session is marked",
    );
    t.ok(
      all.every(
        (s) => s.deviceName === "test" && s.ipAddress === "127.0.0.1" && s.createTime && s.lastUsedTime,
      ),
    );

    const stranger = await h.register();
    t.equal(
      (await failure(h.client.revokeSession({ sessionId: phone.sessionId }, h.bearer(stranger.tokens))))
        .reason,
      "SESSION_NOT_FOUND",
    );
    await h.client.revokeSession({ sessionId: phone.sessionId }, h.bearer(laptop));
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: phone.refreshToken }))).reason,
      "SESSION_REVOKED",
    );

    await h.client.logout({}, h.bearer(person.tokens));
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: person.tokens.refreshToken }))).reason,
      "SESSION_REVOKED",
    );

    const other = await h.login(person.email);
    const wrongCurrent = await failure(
      h.client.changePassword(
        { currentPassword: "nope nope nope", newPassword: "a brand new passphrase" },
        h.bearer(laptop),
      ),
    );
    t.equal(wrongCurrent.reason, "INVALID_CREDENTIALS");
    const changed = await h.client.changePassword(
      { currentPassword: PASSWORD, newPassword: "a brand new passphrase" },
      h.bearer(laptop),
    );
    t.equal(changed.revokedSessions, 1, "the other live session");
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: other.refreshToken }))).reason,
      "SESSION_REVOKED",
    );
    t.ok(await h.client.refreshToken({ refreshToken: laptop.refreshToken }), "the current session stays");
    t.ok(await h.login(person.email, "a brand new passphrase"));
    t.equal((await failure(h.login(person.email))).reason, "INVALID_CREDENTIALS", "the old password is gone");
  },
);

t.test(
  "SetUserRole: admins only; the new role arrives with the next refresh; the last admin stays",
  async (t) => {
    const h = await startHarness(t);
    const admin = await h.admin();
    const person = await h.register();
    const denied = await failure(
      h.client.setUserRole({ userId: person.userId, role: 2, reason: "test" }, h.bearer(person.tokens)),
    );
    t.equal(denied.reason, "PERMISSION_DENIED");
    const { account } = await h.client.setUserRole(
      { userId: person.userId, role: 2, reason: "test" },
      admin.call,
    );
    t.equal(account?.role, 2);
    const refreshed = await h.client.refreshToken({ refreshToken: person.tokens.refreshToken });
    t.equal(decodeJwt(refreshed.tokens!.accessToken).role, "expert");
    t.equal(
      (await failure(h.client.setUserRole({ userId: person.userId, role: 0, reason: "test" }, admin.call)))
        .reason,
      "VALIDATION_FAILED",
    );
    t.equal(
      (await failure(h.client.setUserRole({ userId: admin.userId, role: 1, reason: "test" }, admin.call)))
        .reason,
      "LAST_ADMIN",
    );
    t.equal(
      (
        await failure(
          h.client.setUserRole(
            { userId: "0190a000-0000-7000-8000-000000000000", role: 1, reason: "test" },
            admin.call,
          ),
        )
      ).reason,
      "ACCOUNT_NOT_FOUND",
    );
  },
);

t.test("only active admins count as the last admin", async (t) => {
  const h = await startHarness(t);
  const admin = await h.admin();
  const gone = await h.admin();
  await h.sql`update auth.accounts set status = 'suspended' where id = ${gone.userId}`;
  t.equal(
    (await failure(h.client.setUserRole({ userId: admin.userId, role: 1, reason: "test" }, admin.call)))
      .reason,
    "LAST_ADMIN",
    "a suspended admin acts on nothing, so the only active one cannot step down",
  );
  const { account } = await h.client.setUserRole(
    { userId: gone.userId, role: 1, reason: "test" },
    admin.call,
  );
  t.equal(account?.role, 1, "the suspended admin can be demoted: the active admin count is unchanged");
});

t.test(
  "a sign-in whose account's role changed while it was checked hands out nothing and asks for another",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    const promoted = await h.domain.accounts.setRole(person.userId, "expert");
    const sessionsBefore =
      await h.sql`select id from auth.login_sessions where account_id = ${person.userId}`;
    // The account as a login read it before the change committed.
    const stale = { ...promoted, role: "user" as const };
    const client = { ipAddress: "203.0.113.9", userAgent: "test", deviceName: "phone" };
    const refused = await failure(h.domain.sessions.start(stale, "aal1", client));
    t.equal(refused.reason, "ACCOUNT_CHANGED", "no token with the old role");
    t.equal(refused.kind, "aborted");
    t.equal(refused.retryAfterSeconds, 1);
    const sessionsAfter = await h.sql`select id from auth.login_sessions where account_id = ${person.userId}`;
    t.equal(sessionsAfter.length, sessionsBefore.length, "and no session stored");
    h.clock.advanceSeconds(1);
    const pair = await h.domain.sessions.start(promoted, "aal1", client);
    t.equal(decodeJwt(pair.accessToken).role, "expert", "signing in again gets the role the account has now");
  },
);

t.test(
  "an email address has one spelling: composed and decomposed accents are the same address",
  async (t) => {
    const h = await startHarness(t);
    const local = `jos${process.pid}${Date.now()}`;
    const decomposed = `${local}e\u0301@example.com`;
    const composed = `${local}\u00e9@example.com`;
    await h.client.register({
      email: decomposed,
      phone: "",
      password: PASSWORD,
      displayName: "",
      deviceName: "",
    });
    t.equal(
      (
        await failure(
          h.client.register({
            email: composed,
            phone: "",
            password: PASSWORD,
            displayName: "",
            deviceName: "",
          }),
        )
      ).reason,
      "ACCOUNT_EXISTS",
      "the same address typed the other way is not a second account",
    );
    t.ok(await h.login(composed), "and it signs in, however it is typed");
  },
);

t.test(
  "a sign-in whose password was replaced while it was checked (a reset, say) hands out nothing",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    // The account as a login read it, its password checked, before the change committed.
    const stale = (await createAuthStore(h.sql, () => h.clock.now).findAccount(person.userId))!;
    await h.client.changePassword(
      { currentPassword: PASSWORD, newPassword: "a brand new passphrase" },
      h.bearer(person.tokens),
    );
    const sessionsBefore =
      await h.sql`select id from auth.login_sessions where account_id = ${person.userId}`;
    const client = { ipAddress: "203.0.113.9", userAgent: "test", deviceName: "phone" };
    const refused = await failure(h.domain.sessions.start(stale, "aal1", client));
    t.equal(refused.reason, "INVALID_CREDENTIALS", "the password it proved is not the account's any more");
    const sessionsAfter = await h.sql`select id from auth.login_sessions where account_id = ${person.userId}`;
    t.equal(sessionsAfter.length, sessionsBefore.length, "and no session stored");
    t.ok(await h.login(person.email, "a brand new passphrase"), "the new password signs in");
  },
);

t.test("bootstrap admin: created once; an account already holding the email is never promoted", async (t) => {
  const h = await startHarness(t);
  const email = uniqueEmail();
  t.equal(await h.domain.accounts.bootstrapAdmin(email, PASSWORD), "created");
  t.equal(decodeJwt((await h.login(email)).accessToken).role, "admin");
  t.equal(
    await h.domain.accounts.bootstrapAdmin(email, PASSWORD),
    "exists_as_admin",
    "a restart changes nothing",
  );

  const squatter = await h.register();
  t.equal(
    await h.domain.accounts.bootstrapAdmin(squatter.email, "the operator's passphrase"),
    "exists_not_admin",
  );
  t.equal(
    decodeJwt((await h.login(squatter.email)).accessToken).role,
    "user",
    "whoever registered first stays a user",
  );
});

t.test(
  "a NUL or another control character is refused as INVALID_ARGUMENT, never a database error",
  async (t) => {
    const h = await startHarness(t);
    const identifier = "a\u0000b@x.io";
    const login = await failure(h.client.login({ identifier, password: "whatever-123", deviceName: "" }));
    const register = await failure(
      h.client.register({
        email: identifier,
        phone: "",
        password: PASSWORD,
        displayName: "",
        deviceName: "",
      }),
    );
    const reset = await failure(h.client.requestPasswordReset({ identifier }));
    const named = await failure(
      h.client.register({
        email: uniqueEmail(),
        phone: "",
        password: PASSWORD,
        displayName: "Bell\u0007",
        deviceName: "",
      }),
    );
    for (const [error, field] of [
      [login, "identifier"],
      [register, "email"],
      [reset, "identifier"],
      [named, "display_name"],
    ] as const) {
      t.equal(error.kind, "invalid_argument");
      t.same(
        error.fieldViolations.map((v) => v.field),
        [field],
      );
    }
  },
);

t.test("a sign-in notice is queued for a device the person has not used, not for every login", async (t) => {
  const h = await startHarness(t, { policy: { sessionIdleDays: 1, sessionAbsoluteDays: 2 } });
  const person = await h.register();
  const noticed = async () =>
    (
      await h.sql<{ ip: string; userAgent: string }[]>`
          select payload -> 'payload' -> 'data' ->> 'ip' as ip,
            payload -> 'payload' -> 'data' ->> 'user_agent' as "userAgent"
          from auth.outbox
          where payload ->> 'kind' = 'notify.security' and payload -> 'payload' ->> 'userId' = ${person.userId}
            and payload -> 'payload' ->> 'notice' = 'new_sign_in'
          order by position`
    ).map((row) => `${row.ip} ${row.userAgent}`);
  const tokensOf = (response: Awaited<ReturnType<typeof h.loginFrom>>) => {
    if (response.result?.$case !== "tokens") throw new Error("expected tokens");
    return response.result.value;
  };
  const laptop = { ip: "203.0.113.5", userAgent: "Firefox/140" };
  const tablet = { ip: "203.0.113.5", userAgent: "Safari/19" };

  const home = await h.login(person.email);
  t.same(await noticed(), [], "the device that registered is known");
  tokensOf(await h.loginFrom(laptop, person.email));
  t.same(await noticed(), ["203.0.113.5 Firefox/140"], "a new address and user agent: noticed");
  await h.loginFrom(laptop, person.email);
  t.same(await noticed(), ["203.0.113.5 Firefox/140"], "the same laptop again: not");
  const onTablet = tokensOf(await h.loginFrom(tablet, person.email));
  t.equal((await noticed()).length, 2, "the same address with another user agent: noticed");

  await h.client.logout({}, h.bearer(onTablet));
  await h.loginFrom(tablet, person.email);
  t.equal((await noticed()).length, 2, "a device logged out of is still known");

  // The person ends every laptop session from their list ("this was not me"): the laptop is
  // no longer vouched for by them.
  const { sessions } = await h.client.listSessions({ pageSize: 50, pageToken: "" }, h.bearer(home));
  const onLaptop = sessions.filter((session) => session.userAgent === laptop.userAgent);
  t.equal(onLaptop.length, 2);
  for (const session of onLaptop)
    await h.client.revokeSession({ sessionId: session.sessionId }, h.bearer(home));
  await h.loginFrom(laptop, person.email);
  t.equal((await noticed()).length, 3, "a device whose sessions the person revoked is noticed again");

  h.clock.advanceSeconds(3 * 86_400);
  await h.login(person.email);
  t.equal((await noticed()).length, 4, "sessions older than a session's longest life vouch for nothing");
});

t.test("an admin may end anyone's session, and that is on the record; ending their own is not", async (t) => {
  const h = await startHarness(t);
  const admin = await h.admin();
  const person = await h.register();
  const phone = await h.login(person.email);
  await h.client.revokeSession({ sessionId: phone.sessionId }, admin.call);
  t.equal(
    (await failure(h.client.refreshToken({ refreshToken: phone.refreshToken }))).reason,
    "SESSION_REVOKED",
  );
  const own = await h.sql<{ id: string }[]>`
    select id from auth.login_sessions where account_id = ${admin.userId} and revoked_at is null`;
  await h.client.revokeSession({ sessionId: own[0]!.id }, admin.call);
  const events = await h.sql<
    { actor_id: string; action: string; target_user_id: string; outcome: string; after: unknown }[]
  >`select actor_id, action, target_user_id, outcome, after from auth.audit_events`;
  t.same(
    events,
    [
      {
        actor_id: admin.userId,
        action: "session.revoke",
        target_user_id: person.userId,
        outcome: "done",
        after: { session_id: phone.sessionId },
      },
    ],
    "one event: the other person's session, not the admin's own",
  );
});

t.test("reset attempts are counted per address, an IPv6 one by its /64", async (t) => {
  const h = await startHarness(t, { policy: { ipAttemptLimit: 3 } });
  const reset = (clientIp: string) =>
    new Promise<ServiceError | null>((resolve) => {
      const metadata = new Metadata();
      metadata.set("x-client-ip", clientIp);
      h.plain.resetPassword(
        { resetToken: "not-a-reset-token-0123456789", newPassword: "a brand new passphrase", mfaCode: "" },
        metadata,
        (error) => resolve(error),
      );
    });
  const codes = [];
  for (let host = 1; host <= 4; host++) codes.push((await reset(`2001:db8:9:9::${host}`))?.code);
  t.same(
    codes,
    [status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.RESOURCE_EXHAUSTED],
    "a new address from the same /64 buys no new allowance",
  );
  t.equal((await reset("2001:db8:9:a::1"))?.code, status.UNAUTHENTICATED, "the next /64 has its own");
});
