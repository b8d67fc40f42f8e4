import { newId } from "@parley/kit/ids";
import { Role } from "@parley/proto/parley/auth/v1/auth";
import postgres from "postgres";
import t from "tap";
import { failure, PASSWORD, startHarness } from "./harness";

t.test(
  "revocations are numbered in commit order: a poll between two out-of-order commits never moves past the one still open",
  async (t) => {
    const h = await startHarness(t);
    const admin = await h.admin();
    const verifier = await h.serviceCall("user");
    const { apiKey } = await h.client.createApiKey(
      { partnerId: "acme", name: "acme", scopes: ["users:sync"], requestId: newId() },
      admin.call,
    );
    const suspended = `user:${newId()}`;

    // A suspension in progress: its revocation inserted (its seq taken) through the same lock
    // every insert takes, the rest of its transaction still working.
    const slow = h.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('parley:auth:revocations'))`;
      await tx`insert into auth.revocations (subject, reason, revoked_at)
               values (${suspended}, 'account_suspended', now())`;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Meanwhile a key revocation, quick to commit.
    const revoking = h.client.revokeApiKey({ keyId: apiKey!.keyId }, admin.call);

    // A verifier polls while the suspension is still open.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const first = await h.client.listRevocations({ afterSeq: 0n }, verifier);
    // biome-ignore lint/complexity/useMathMinMax: seqs are bigints, which Math.max does not take
    const cursor = first.revocations.reduce((max, r) => (r.seq > max ? r.seq : max), 0n);
    await slow;
    await revoking;
    const next = await h.client.listRevocations({ afterSeq: cursor }, verifier);
    const seen = [...first.revocations, ...next.revocations].map((r) => r.subject);
    t.ok(seen.includes(`api_key:${apiKey!.keyId}`), "the key's revocation is seen");
    t.ok(seen.includes(suspended), "and the suspension that committed later is not skipped");
    const seqs = [...first.revocations, ...next.revocations].map((r) => r.seq);
    t.same(
      seqs,
      [...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      "each poll continues after the last",
    );
  },
);

t.test(
  "a demoted staff member's tokens stop working at once (role_changed); a promotion revokes nothing",
  async (t) => {
    const h = await startHarness(t);
    const admin = await h.admin();
    const verifier = await h.serviceCall("user");
    const person = await h.register();
    const setRole = (role: Role) =>
      h.client.setUserRole({ userId: person.userId, role, reason: "test" }, admin.call);
    const revoked = async () =>
      (await h.client.listRevocations({ afterSeq: 0n }, verifier)).revocations.filter(
        (r) => r.subject === `user:${person.userId}`,
      );

    await setRole(Role.ROLE_SUPPORT);
    t.same(await revoked(), [], "a promotion revokes nothing");
    const asSupport = await h.login(person.email);
    await setRole(Role.ROLE_MODERATOR);
    const after = await revoked();
    t.equal(after.length, 1, "the demotion is a revocation");
    t.equal(after[0]?.reason, "role_changed");
    // The auth server's own verifier polls the list too: the support token is refused.
    let refused: { reason?: string } | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      try {
        await h.client.listSessions({ pageSize: 0, pageToken: "" }, h.bearer(asSupport));
        await new Promise((resolve) => setTimeout(resolve, 100));
      } catch (error) {
        refused = error as { reason?: string };
      }
    }
    t.equal(refused?.reason, "ROLE_CHANGED", "the old token is refused");
    // Tokens carry whole seconds: one issued in the second of the change counts as before it.
    h.clock.advanceSeconds(2);
    const asModerator = await h.login(person.email);
    await h.client.listSessions({ pageSize: 0, pageToken: "" }, h.bearer(asModerator));
    t.pass("a token issued after the change works");
  },
);

t.test(
  "a login or refresh racing a suspension hands out nothing: the account row is read under a share lock",
  async (t) => {
    const h = await startHarness(t);
    // A connection of the test's own: the service's pool must not wait behind the open transaction.
    const own = postgres(h.databaseUrl, { max: 2, onnotice: () => {} });
    t.teardown(() => own.end({ timeout: 5 }));
    /**
     * A suspension in progress: the account row locked and marked; it commits once another
     * backend waits on a lock (the call racing it), or after 3 s when nothing waits.
     */
    const suspending = async (userId: string) => {
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const done = own.begin(async (tx) => {
        await tx`select 1 from auth.accounts where id = ${userId} for update`;
        await tx`update auth.accounts set status = 'suspended' where id = ${userId}`;
        locked();
        for (let i = 0; i < 30; i++) {
          const [{ waiting }] = await own<[{ waiting: number }]>`
            select count(*)::int as waiting from pg_locks where not granted`;
          if (waiting > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      });
      await lockTaken;
      return { committed: done };
    };

    const loggingIn = await h.register();
    const suspension = await suspending(loggingIn.userId);
    const login = failure(
      h.client.login({ identifier: loggingIn.email, password: PASSWORD, deviceName: "x" }),
    );
    await suspension.committed;
    t.equal((await login).reason, "ACCOUNT_SUSPENDED", "the login waited for the suspension and saw it");
    const [{ sessions }] = await h.sql<[{ sessions: number }]>`
      select count(*)::int as sessions from auth.login_sessions where account_id = ${loggingIn.userId}`;
    t.equal(sessions, 1, "no session was added (only registration's)");

    const refreshing = await h.register();
    const second = await suspending(refreshing.userId);
    const refresh = failure(h.client.refreshToken({ refreshToken: refreshing.tokens.refreshToken }));
    await second.committed;
    t.equal((await refresh).reason, "SESSION_REVOKED", "the refresh waited for the suspension and saw it");
  },
);

t.test(
  "an ended sign-in's access tokens stop working at once, not 15 minutes later; the others keep working",
  async (t) => {
    const h = await startHarness(t);
    const verifier = await h.serviceCall("user");
    const person = await h.register();
    const laptop = await h.login(person.email);
    const phone = await h.login(person.email);
    const refusedWith = async (tokens: Parameters<typeof h.bearer>[0]) => {
      for (let i = 0; i < 50; i++) {
        try {
          await h.client.listSessions({ pageSize: 0, pageToken: "" }, h.bearer(tokens));
          await new Promise((resolve) => setTimeout(resolve, 100));
        } catch (error) {
          return (error as { reason?: string }).reason;
        }
      }
      return undefined;
    };
    await h.client.logout({}, h.bearer(laptop));
    const published = (await h.client.listRevocations({ afterSeq: 0n }, verifier)).revocations.filter(
      (r) => r.subject === `session:${laptop.sessionId}`,
    );
    t.same(
      published.map((r) => r.reason),
      ["logout"],
      "the logout is published as the session's revocation",
    );
    t.equal(await refusedWith(laptop), "SESSION_REVOKED", "the logged-out session's access token is refused");
    await h.client.listSessions({ pageSize: 0, pageToken: "" }, h.bearer(phone));
    t.pass("another session's token still works");
    await h.client.changePassword(
      { currentPassword: PASSWORD, newPassword: "a brand new passphrase" },
      h.bearer(phone),
    );
    const other = await h.login(person.email, "a brand new passphrase");
    await h.client.revokeSession({ sessionId: other.sessionId }, h.bearer(phone));
    t.equal(await refusedWith(other), "SESSION_REVOKED", "a session revoked from another is refused too");

    const sessionRows = async () =>
      (
        await h.sql<{ n: number }[]>`
          select count(*)::int as n from auth.revocations where subject like 'session:%'`
      )[0]!.n;
    const kept = await sessionRows();
    t.ok(kept >= 2, `${kept} session revocations kept while their tokens may live`);
    t.equal(await h.domain.sessions.forgetSessionRevocations(), 0, "none is old enough to go yet");
    h.clock.advanceSeconds(3 * 3600);
    t.equal(await h.domain.sessions.forgetSessionRevocations(), kept, "past the longest token life they go");
    t.equal(await sessionRows(), 0);
  },
);

t.test("a role change needs a reason, recorded with it", async (t) => {
  const h = await startHarness(t);
  const admin = await h.admin();
  const person = await h.register();
  for (const reason of ["", "   ", "x".repeat(1001)]) {
    const refused = await failure(
      h.client.setUserRole({ userId: person.userId, role: Role.ROLE_SUPPORT, reason }, admin.call),
    );
    t.equal(refused.reason, "REASON_REQUIRED", `${reason.length} characters`);
  }
  const [{ role }] = await h.sql<
    [{ role: string }]
  >`select role from auth.accounts where id = ${person.userId}`;
  t.equal(role, "user", "nothing changed");
  await h.client.setUserRole(
    { userId: person.userId, role: Role.ROLE_SUPPORT, reason: " joins support " },
    admin.call,
  );
  const [event] = await h.sql<{ reason: string }[]>`
    select reason from auth.audit_events where action = 'role.set' and target_user_id = ${person.userId}`;
  t.equal(event?.reason, "joins support");
});
