import { newId } from "@parley/kit/ids";
import { Role } from "@parley/proto/parley/auth/v1/auth";
import t from "tap";
import { startHarness } from "./harness";

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
