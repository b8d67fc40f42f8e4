import t from "tap";
import { failure, startHarness } from "./harness";

t.test("every refresh rotates; a spent token outside the retry window revokes the family", async (t) => {
  const h = await startHarness(t);
  const { tokens: first } = await h.register();
  const second = (await h.client.refreshToken({ refreshToken: first.refreshToken })).tokens!;
  t.not(second.refreshToken, first.refreshToken);
  t.equal(second.sessionId, first.sessionId, "same login session");
  const third = (await h.client.refreshToken({ refreshToken: second.refreshToken })).tokens!;

  h.clock.advanceSeconds(3600);
  const older = await failure(h.client.refreshToken({ refreshToken: first.refreshToken }));
  t.equal(older.reason, "REFRESH_TOKEN_REUSED", "a token two rotations old never passes");
  const [revoked] = await h.sql<{ revoked_at: Date; revoke_reason: string }[]>`
    select revoked_at, revoke_reason from auth.login_sessions where id = ${first.sessionId}`;
  t.equal(revoked!.revoke_reason, "refresh_token_reused");
  t.equal(revoked!.revoked_at.getTime(), h.clock.now.getTime(), "revoked at the service's clock");
  const afterReuse = await failure(h.client.refreshToken({ refreshToken: third.refreshToken }));
  t.equal(afterReuse.reason, "SESSION_REVOKED", "the whole family is revoked, including the newest token");
  t.equal(
    (await failure(h.client.refreshToken({ refreshToken: "nonsense" }))).reason,
    "REFRESH_TOKEN_INVALID",
  );
});

t.test(
  "a client that lost the answer may retry the previous token briefly and gets the same pair",
  async (t) => {
    const h = await startHarness(t);
    const { tokens } = await h.register();
    const next = (await h.client.refreshToken({ refreshToken: tokens.refreshToken })).tokens!;
    h.clock.advanceSeconds(3);
    const retried = (await h.client.refreshToken({ refreshToken: tokens.refreshToken })).tokens!;
    t.same(retried, next, "the same pair, not a second one");
    t.ok(await h.client.refreshToken({ refreshToken: next.refreshToken }), "and that pair works");

    const later = (await h.register()).tokens;
    await h.client.refreshToken({ refreshToken: later.refreshToken });
    h.clock.advanceSeconds(11);
    t.equal(
      (await failure(h.client.refreshToken({ refreshToken: later.refreshToken }))).reason,
      "REFRESH_TOKEN_REUSED",
      "not after the window",
    );
  },
);

t.test("concurrent refreshes of one token yield exactly one new pair", async (t) => {
  const h = await startHarness(t);
  for (let round = 0; round < 5; round++) {
    const { tokens } = await h.register();
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => h.client.refreshToken({ refreshToken: tokens.refreshToken })),
    );
    const pairs = new Set(
      results.flatMap((r) => (r.status === "fulfilled" ? [r.value.tokens!.refreshToken] : [])),
    );
    t.equal(pairs.size, 1, `round ${round}: one refresh token issued`);
    const [rows] = await h.sql<{ count: number }[]>`
      select count(*)::int as count from auth.refresh_tokens where session_id = ${tokens.sessionId}`;
    t.equal(rows!.count, 2, "the family holds the original and one successor");
  }
});

t.test("an expired session cannot be refreshed", async (t) => {
  const h = await startHarness(t, { policy: { sessionIdleDays: 1 } });
  const { tokens } = await h.register();
  h.clock.advanceSeconds(86_401);
  t.equal(
    (await failure(h.client.refreshToken({ refreshToken: tokens.refreshToken }))).reason,
    "REFRESH_TOKEN_INVALID",
  );
});

t.test("the sealed pair a spent token keeps for retries is dropped once its window passed", async (t) => {
  const h = await startHarness(t);
  const { userId, tokens } = await h.register();
  await h.client.refreshToken({ refreshToken: tokens.refreshToken });
  const sealed = () => h.sql<{ n: number }[]>`
    select count(*)::int as n from auth.refresh_tokens t join auth.login_sessions s on s.id = t.session_id
    where s.account_id = ${userId} and t.successor_sealed is not null`;
  t.equal((await sealed())[0]!.n, 1, "kept while a retry may come");
  t.equal(await h.domain.sessions.forgetRetryPairs(), 0, "not within the window");
  h.clock.advanceSeconds(11);
  t.ok((await h.domain.sessions.forgetRetryPairs()) >= 1);
  t.equal((await sealed())[0]!.n, 0, "an idle session keeps nothing recoverable");
});
