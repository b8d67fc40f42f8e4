import { newId } from "@parley/kit/ids";
import t from "tap";
import { blankProfile, expertProfile, failure, startHarness } from "./harness";

const h = await startHarness(t);

t.test("GetMe creates a default profile when the account has none, once", async (t) => {
  const me = await h.person();
  const first = await h.client.getMe({}, me.call);
  t.equal(first.profile?.userId, me.userId);
  t.equal(first.profile?.displayName, "New user");
  t.ok(first.profile?.preferences, "own preferences are visible");
  const again = await h.client.getMe({}, me.call);
  t.same(again.profile?.createdAt, first.profile?.createdAt, "the same profile, not a second one");
  const [{ count }] = await h.sql<
    [{ count: number }]
  >`select count(*)::int as count from users.profiles where user_id = ${me.userId}`;
  t.equal(count, 1);
  t.equal((await failure(h.client.getMe({}))).kind, "unauthenticated");
  t.equal((await failure(h.client.getMe({}, h.as.session))).kind, "permission_denied");
});

t.test("EnsureProfile is idempotent and only for auth", async (t) => {
  const userId = newId();
  const first = await h.client.ensureProfile(
    { userId, displayName: "", email: "asha@example.com", phone: "" },
    h.as.auth,
  );
  t.equal(first.created, true);
  t.equal(first.profile?.displayName, "asha", "display name from the email's local part");
  const again = await h.client.ensureProfile(
    { userId, displayName: "Other", email: "", phone: "" },
    h.as.auth,
  );
  const long = await h.client.ensureProfile(
    { userId: newId(), displayName: "x".repeat(200), email: "", phone: "" },
    h.as.auth,
  );
  t.equal(long.profile?.displayName.length, 80, "an over-long name is cut, not refused");
  t.equal(again.created, false);
  t.equal(again.profile?.displayName, "asha", "a retry changes nothing");
  const concurrent = newId();
  const results = await Promise.all(
    Array.from({ length: 10 }, () =>
      h.client.ensureProfile({ userId: concurrent, displayName: "Ravi", email: "", phone: "" }, h.as.auth),
    ),
  );
  t.equal(results.filter((r) => r.created).length, 1, "ten concurrent retries create one profile");
  for (const caller of [h.as.session, (await h.person()).call, h.as.partnerA]) {
    t.equal(
      (
        await failure(
          h.client.ensureProfile({ userId: newId(), displayName: "x", email: "", phone: "" }, caller),
        )
      ).kind,
      "permission_denied",
    );
  }
  const bad = await failure(
    h.client.ensureProfile({ userId: "not-a-uuid", displayName: "", email: "", phone: "" }, h.as.auth),
  );
  t.equal(bad.reason, "VALIDATION_FAILED");
});

t.test(
  "the name given at register wins over placeholders, and the person's own name over both",
  async (t) => {
    const ensure = (userId: string, displayName: string) =>
      h.client.ensureProfile({ userId, displayName, email: "", phone: "" }, h.as.auth);

    const early = await h.person();
    t.equal(
      (await h.client.getMe({}, early.call)).profile?.displayName,
      "New user",
      "read before auth's message",
    );
    await ensure(early.userId, "Asha Newcomer");
    t.equal(
      (await h.client.getMe({}, early.call)).profile?.displayName,
      "Asha Newcomer",
      "auth's name replaces it",
    );
    await ensure(early.userId, "Someone Else");
    t.equal(
      (await h.client.getMe({}, early.call)).profile?.displayName,
      "Asha Newcomer",
      "a second message does not",
    );

    const expert = await h.person("expert");
    await h.client.upsertExpertProfile({ reason: "", expertId: "", profile: expertProfile() }, expert.call);
    t.equal((await h.client.getExpert({ expertId: expert.userId })).expert?.displayName, "New expert");
    await ensure(expert.userId, "Ravi Expert");
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.displayName,
      "Ravi Expert",
      "an expert profile made first is listed under the registered name once it arrives",
    );

    const quick = await h.person();
    await h.client.updateProfile(
      { reason: "", profile: { ...blankProfile, displayName: "My Own Name" }, updateMask: ["display_name"] },
      quick.call,
    );
    await ensure(quick.userId, "Registered Name");
    t.equal(
      (await h.client.getMe({}, quick.call)).profile?.displayName,
      "My Own Name",
      "a name the person set before auth's message arrived is kept",
    );
    const bioFirst = await h.person();
    await h.client.updateProfile(
      { reason: "", profile: { ...blankProfile, bio: "Hello" }, updateMask: ["bio"] },
      bioFirst.call,
    );
    await ensure(bioFirst.userId, "Named Later");
    t.equal(
      (await h.client.getMe({}, bioFirst.call)).profile?.displayName,
      "Named Later",
      "changing another field first leaves the name a placeholder",
    );
  },
);

t.test("UpdateProfile applies exactly the masked fields", async (t) => {
  const me = await h.person();
  const { profile } = await h.client.updateProfile(
    {
      reason: "",
      profile: {
        ...blankProfile,
        displayName: "  Meera  ",
        bio: "Tarot reader",
        languages: ["en", "ta-IN"],
        preferences: {
          locale: "en-IN",
          timeZone: "Asia/Kolkata",
          emailNotifications: false,
          pushNotifications: true,
        },
      },
      updateMask: ["display_name", "bio", "languages", "preferences"],
    },
    me.call,
  );
  t.equal(profile?.displayName, "Meera");
  t.equal(profile?.bio, "Tarot reader");
  t.same(profile?.languages, ["en", "ta-IN"]);
  t.equal(profile?.preferences?.timeZone, "Asia/Kolkata");
  const { profile: second } = await h.client.updateProfile(
    {
      reason: "",
      profile: { ...blankProfile, avatarUrl: "https://cdn.example.com/a.png" },
      updateMask: ["avatarUrl"],
    },
    me.call,
  );
  t.equal(second?.avatarUrl, "https://cdn.example.com/a.png", "camelCase JSON paths are accepted");
  t.equal(second?.bio, "Tarot reader", "fields outside the mask keep their values");
  const { profile: cleared } = await h.client.updateProfile(
    { reason: "", profile: { ...blankProfile }, updateMask: ["bio"] },
    me.call,
  );
  t.equal(cleared?.bio, "", "a masked field set to its default is cleared");
});

t.test(
  "UpdateProfile refuses fields outside the mask, unknown and protected fields (no mass assignment)",
  async (t) => {
    const me = await h.person();
    await h.client.getMe({}, me.call);
    const outside = await failure(
      h.client.updateProfile(
        {
          reason: "",
          profile: { ...blankProfile, displayName: "A", bio: "sneaky" },
          updateMask: ["display_name"],
        },
        me.call,
      ),
    );
    t.equal(outside.kind, "invalid_argument");
    t.equal(outside.reason, "FIELD_OUTSIDE_MASK");
    t.equal(outside.metadata.field, "bio");
    const verified = await failure(
      h.client.updateProfile(
        { reason: "", profile: { ...blankProfile, verified: true }, updateMask: ["verified"] },
        me.call,
      ),
    );
    t.equal(verified.kind, "permission_denied");
    t.equal(verified.reason, "FIELD_NOT_PERMITTED");
    for (const path of [
      "partner_id",
      "external_id",
      "sync_status",
      "created_at",
      "user_id",
      "role",
      "preferences.locale",
    ]) {
      const refused = await failure(
        h.client.updateProfile({ reason: "", profile: { ...blankProfile }, updateMask: [path] }, me.call),
      );
      t.equal(refused.reason, "FIELD_NOT_UPDATABLE", `${path} is not updatable`);
    }
    const smuggled = await failure(
      h.client.updateProfile(
        { reason: "", profile: { ...blankProfile, partnerId: "partner-a", bio: "x" }, updateMask: ["bio"] },
        me.call,
      ),
    );
    t.equal(smuggled.reason, "FIELD_OUTSIDE_MASK", "sync fields cannot ride along");
    const empty = await failure(
      h.client.updateProfile({ reason: "", profile: { ...blankProfile, bio: "x" }, updateMask: [] }, me.call),
    );
    t.equal(empty.reason, "UPDATE_MASK_REQUIRED");
    const invalid = await failure(
      h.client.updateProfile(
        {
          reason: "",
          profile: { ...blankProfile, avatarUrl: "javascript:alert(1)", languages: ["not a tag"] },
          updateMask: ["avatar_url", "languages"],
        },
        me.call,
      ),
    );
    t.equal(invalid.reason, "VALIDATION_FAILED");
    t.equal(invalid.fieldViolations.length, 2);
    const [row] =
      await h.sql`select verified, partner_id, bio, avatar_url from users.profiles where user_id = ${me.userId}`;
    t.same(
      row,
      { verified: false, partner_id: null, bio: "", avatar_url: "" },
      "nothing refused was written",
    );
  },
);

t.test("staff may verify a profile; a user may not edit another user's profile (BOLA)", async (t) => {
  const alice = await h.person();
  const bob = await h.person();
  await h.client.getMe({}, alice.call);
  const attack = await failure(
    h.client.updateProfile(
      {
        reason: "",
        profile: { ...blankProfile, userId: alice.userId, displayName: "pwned" },
        updateMask: ["display_name"],
      },
      bob.call,
    ),
  );
  t.equal(attack.kind, "permission_denied");
  t.equal(attack.reason, "NOT_YOUR_PROFILE");
  const expert = await h.person("expert");
  const asExpert = await failure(
    h.client.updateProfile(
      {
        reason: "",
        profile: { ...blankProfile, userId: alice.userId, displayName: "pwned" },
        updateMask: ["display_name"],
      },
      expert.call,
    ),
  );
  t.equal(asExpert.reason, "NOT_YOUR_PROFILE");
  const { profile } = await h.client.updateProfile(
    {
      reason: "",
      profile: { ...blankProfile, userId: alice.userId, verified: true },
      updateMask: ["verified"],
    },
    h.as.operator,
  );
  t.equal(profile?.verified, true);
  t.equal(profile?.displayName, "New user", "the attack changed nothing");
  const missing = await failure(
    h.client.updateProfile(
      { reason: "", profile: { ...blankProfile, userId: newId(), bio: "x" }, updateMask: ["bio"] },
      h.as.operator,
    ),
  );
  t.equal(missing.reason, "USER_NOT_FOUND");
});

t.test("GetUser shows others only the public fields", async (t) => {
  const alice = await h.person();
  await h.client.updateProfile(
    {
      reason: "",
      profile: {
        ...blankProfile,
        displayName: "Alice",
        preferences: {
          locale: "en",
          timeZone: "Europe/London",
          emailNotifications: true,
          pushNotifications: false,
        },
      },
      updateMask: ["display_name", "preferences"],
    },
    alice.call,
  );
  const bob = await h.person();
  const seen = await h.client.getUser({ userId: alice.userId }, bob.call);
  t.equal(seen.profile?.displayName, "Alice");
  t.equal(seen.profile?.preferences?.timeZone, "", "preferences hidden from others");
  const own = await h.client.getUser({ userId: alice.userId }, alice.call);
  t.equal(own.profile?.preferences?.timeZone, "Europe/London");
  const staff = await h.client.getUser({ userId: alice.userId }, h.as.operator);
  t.equal(staff.profile?.preferences?.timeZone, "Europe/London");
  t.equal((await failure(h.client.getUser({ userId: newId() }, bob.call))).reason, "USER_NOT_FOUND");
  t.equal((await failure(h.client.getUser({ userId: "x" }, bob.call))).reason, "VALIDATION_FAILED");
  t.equal((await failure(h.client.getUser({ userId: alice.userId }))).kind, "unauthenticated");
  t.equal(
    (await failure(h.client.getUser({ userId: alice.userId }, h.as.partnerA))).reason,
    "USER_NOT_FOUND",
    "a partner does not see users it did not sync",
  );
});
