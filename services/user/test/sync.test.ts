import { SyncOutcome, type SyncUserRecord } from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { failure, startHarness } from "./harness";

const h = await startHarness(t);

const record = (externalId: string, overrides: Partial<SyncUserRecord> = {}): SyncUserRecord => ({
  externalId,
  displayName: `User ${externalId}`,
  avatarUrl: "",
  bio: "",
  languages: ["en"],
  ...overrides,
});

t.test("SyncUser upserts by external id: the same record twice gives one user", async (t) => {
  const first = await h.client.syncUser({ record: record("ext-1") }, h.as.partnerA);
  t.equal(first.result?.outcome, SyncOutcome.SYNC_OUTCOME_CREATED);
  const second = await h.client.syncUser(
    { record: record("ext-1", { displayName: "Renamed" }) },
    h.as.partnerA,
  );
  t.equal(second.result?.outcome, SyncOutcome.SYNC_OUTCOME_UPDATED);
  t.equal(second.result?.userId, first.result?.userId);
  const userId = first.result?.userId ?? "";
  const seen = await h.client.getUser({ userId }, h.as.partnerA);
  t.equal(seen.profile?.displayName, "Renamed");
  t.equal(seen.profile?.externalId, "ext-1");
  t.equal(seen.profile?.syncStatus, SyncOutcome.SYNC_OUTCOME_UPDATED, "sync status kept");
  t.same(seen.profile?.lastSyncedAt, h.clock.now, "last sync time kept");
  const [{ sync_count }] = await h.sql<
    [{ sync_count: number }]
  >`select sync_count from users.profiles where user_id = ${userId}`;
  t.equal(sync_count, 2);
  const otherPartner = await h.client.syncUser({ record: record("ext-1") }, h.as.partnerB);
  t.not(otherPartner.result?.userId, userId, "external ids are scoped to the partner");
});

t.test("concurrent duplicates of one record give one user", async (t) => {
  const results = await Promise.all(
    Array.from({ length: 20 }, () => h.client.syncUser({ record: record("ext-race") }, h.as.partnerA)),
  );
  const ids = new Set(results.map((r) => r.result?.userId));
  t.equal(ids.size, 1, "every call names the same user");
  t.equal(
    results.filter((r) => r.result?.outcome === SyncOutcome.SYNC_OUTCOME_CREATED).length,
    1,
    "exactly one created it",
  );
  const [{ count }] = await h.sql<[{ count: number }]>`
    select count(*)::int as count from users.profiles where partner_id = 'partner-a' and external_id = 'ext-race'`;
  t.equal(count, 1);
  const streams = await Promise.all(
    Array.from({ length: 5 }, () =>
      h.client.syncUsers(
        [{ record: record("ext-stream-race") }, { record: record("ext-stream-race-2") }],
        h.as.partnerA,
      ),
    ),
  );
  t.equal(new Set(streams.map((s) => s.results[0]?.userId)).size, 1, "concurrent streams converge too");
  t.equal(
    streams.reduce((sum, s) => sum + s.createdCount, 0),
    2,
    "two distinct records, two users",
  );
});

t.test("SyncUsers: per-record results; a bad record fails alone", async (t) => {
  await h.client.syncUser({ record: record("batch-existing") }, h.as.partnerA);
  const response = await h.client.syncUsers(
    [
      { record: record("batch-1") },
      { record: record("batch-bad-name", { displayName: "" }) },
      { record: record("batch-existing", { bio: "now with bio" }) },
      { record: record("", { displayName: "No id" }) },
      { record: record("batch-bad-url", { avatarUrl: "http://insecure.example.com/a.png" }) },
      { record: record("batch-2", { languages: ["hi"] }) },
    ],
    h.as.partnerA,
  );
  t.same(
    response.results.map((r) => [r.externalId, r.outcome]),
    [
      ["batch-1", SyncOutcome.SYNC_OUTCOME_CREATED],
      ["batch-bad-name", SyncOutcome.SYNC_OUTCOME_FAILED],
      ["batch-existing", SyncOutcome.SYNC_OUTCOME_UPDATED],
      ["", SyncOutcome.SYNC_OUTCOME_FAILED],
      ["batch-bad-url", SyncOutcome.SYNC_OUTCOME_FAILED],
      ["batch-2", SyncOutcome.SYNC_OUTCOME_CREATED],
    ],
  );
  t.equal(response.results[1]?.errorReason, "VALIDATION_FAILED");
  t.match(response.results[1]?.errorMessage, /display_name/);
  t.equal(response.results[1]?.userId, "");
  t.same([response.createdCount, response.updatedCount, response.failedCount], [2, 1, 3]);
  const rows = await h.sql`
    select external_id from users.profiles where partner_id = 'partner-a' and external_id like 'batch-%' order by 1`;
  t.same(
    rows.map((r) => r.external_id),
    ["batch-1", "batch-2", "batch-existing"],
    "only good records were written",
  );
  const empty = await h.client.syncUsers([], h.as.partnerA);
  t.same(empty.results, []);
});

t.test("SyncUsers from a source that breaks midway is cancelled, never taken as complete", async (t) => {
  async function* breaking() {
    yield { record: record("midway-1") };
    throw new Error("the source broke");
  }
  const error = await h.client.syncUsers(breaking(), h.as.partnerA).then(
    () => undefined,
    (reason: unknown) => reason as Error,
  );
  t.match(error?.message, /the source broke/);
});

t.test("a refused SyncUsers answers at once, however much is still to send", async (t) => {
  const person = await h.person();
  function* many() {
    for (let i = 0; i < 20_000; i++) yield { record: record(`flood-${i}`, { bio: "b".repeat(500) }) };
  }
  t.equal((await failure(h.client.syncUsers(many(), person.call))).kind, "permission_denied");
});

t.test("SyncUser refuses a bad record with VALIDATION_FAILED", async (t) => {
  const bad = await failure(h.client.syncUser({ record: record("x".repeat(129)) }, h.as.partnerA));
  t.equal(bad.kind, "invalid_argument");
  t.equal(bad.reason, "VALIDATION_FAILED");
});

t.test("only partner keys with users:sync may sync", async (t) => {
  const person = await h.person();
  for (const caller of [person.call, h.as.operator, h.as.auth, h.as.partnerARead]) {
    t.equal((await failure(h.client.syncUser({ record: record("nope") }, caller))).kind, "permission_denied");
    t.equal(
      (await failure(h.client.syncUsers([{ record: record("nope") }], caller))).kind,
      "permission_denied",
    );
  }
  t.equal((await failure(h.client.syncUser({ record: record("nope") }))).kind, "unauthenticated");
  t.equal(
    (await failure(h.client.syncUser({ record: record("nope") }, { apiKey: "wrong" }))).kind,
    "unauthenticated",
  );
  const [{ count }] = await h.sql<
    [{ count: number }]
  >`select count(*)::int as count from users.profiles where external_id = 'nope'`;
  t.equal(count, 0);
});

t.test("partners see only their own synced users", async (t) => {
  const mine = await h.client.syncUser({ record: record("visible") }, h.as.partnerA);
  const userId = mine.result?.userId ?? "";
  const read = await h.client.getUser({ userId }, h.as.partnerARead);
  t.equal(read.profile?.externalId, "visible", "a users:read key of the same partner sees it");
  const other = await failure(h.client.getUser({ userId }, h.as.partnerB));
  t.equal(other.reason, "USER_NOT_FOUND", "another partner does not");
  const person = await h.person();
  const asPerson = await h.client.getUser({ userId }, person.call);
  t.equal(asPerson.profile?.externalId, "", "other people do not see the sync fields");
});

t.test("LookupSyncedUser resolves a partner's external id, for auth only", async (t) => {
  const synced = await h.client.syncUser({ record: record("lookup-me") }, h.as.partnerA);
  const found = await h.client.lookupSyncedUser(
    { partnerId: "partner-a", externalId: "lookup-me" },
    h.as.auth,
  );
  t.equal(found.userId, synced.result?.userId);
  const wrongPartner = await failure(
    h.client.lookupSyncedUser({ partnerId: "partner-b", externalId: "lookup-me" }, h.as.auth),
  );
  t.equal(wrongPartner.kind, "not_found");
  t.equal(wrongPartner.reason, "SYNCED_USER_NOT_FOUND");
  t.equal(
    (await failure(h.client.lookupSyncedUser({ partnerId: "", externalId: "" }, h.as.auth))).reason,
    "VALIDATION_FAILED",
  );
  for (const caller of [h.as.session, h.as.partnerA, (await h.person()).call]) {
    t.equal(
      (await failure(h.client.lookupSyncedUser({ partnerId: "partner-a", externalId: "lookup-me" }, caller)))
        .kind,
      "permission_denied",
    );
  }
});
