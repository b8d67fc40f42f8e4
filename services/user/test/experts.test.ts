import { newId } from "@parley/kit/ids";
import { ExpertAvailability } from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { expertProfile, failure, inr, PRESENCE_TTL_SECONDS, startHarness } from "./harness";

const h = await startHarness(t);
const { AVAILABLE, UNAVAILABLE, OFFLINE, BUSY } = {
  AVAILABLE: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
  UNAVAILABLE: ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE,
  OFFLINE: ExpertAvailability.EXPERT_AVAILABILITY_OFFLINE,
  BUSY: ExpertAvailability.EXPERT_AVAILABILITY_BUSY,
};

t.test(
  "an expert creates and replaces their profile; GetExpert shows it to anyone and to session",
  async (t) => {
    const expert = await h.person("expert");
    const { expert: created } = await h.client.upsertExpertProfile(
      {
        reason: "",
        expertId: "",
        profile: expertProfile({ specialisations: ["Vedic", " Tarot ", "vedic"] }),
      },
      expert.call,
    );
    t.equal(created?.userId, expert.userId);
    t.same(created?.specialisations, ["vedic", "tarot"], "normalised lower case, deduplicated");
    t.same(created?.chatRate, inr(1000n));
    t.equal(created?.availability, OFFLINE, "a new expert starts offline");
    t.equal(created?.displayName, "New expert", "a profile was created for the expert");
    const { expert: replaced } = await h.client.upsertExpertProfile(
      {
        reason: "",
        expertId: expert.userId,
        profile: expertProfile({ chatRate: inr(2500n), callRate: inr(4000n), experienceYears: 12 }),
      },
      expert.call,
    );
    t.same(replaced?.chatRate, inr(2500n));
    t.equal(replaced?.experienceYears, 12);
    const anonymous = await h.client.getExpert({ expertId: expert.userId });
    t.same(anonymous.expert?.callRate, inr(4000n));
    const fromSession = await h.client.getExpert({ expertId: expert.userId }, h.as.session);
    t.equal(fromSession.expert?.ratingCount, 0);
    t.equal((await failure(h.client.getExpert({ expertId: newId() }))).reason, "EXPERT_NOT_FOUND");
    t.equal((await failure(h.client.getExpert({ expertId: "nope" }))).reason, "VALIDATION_FAILED");
  },
);

t.test("expert profile rules: own profile only, experts only, valid values", async (t) => {
  const expert = await h.person("expert");
  const other = await h.person("expert");
  const bola = await failure(
    h.client.upsertExpertProfile(
      { reason: "", expertId: other.userId, profile: expertProfile() },
      expert.call,
    ),
  );
  t.equal(bola.reason, "NOT_YOUR_PROFILE");
  const user = await h.person();
  t.equal(
    (
      await failure(
        h.client.upsertExpertProfile({ reason: "", expertId: "", profile: expertProfile() }, user.call),
      )
    ).kind,
    "permission_denied",
    "a plain user cannot make themselves an expert",
  );
  const mismatch = await failure(
    h.client.upsertExpertProfile(
      {
        reason: "",
        expertId: "",
        profile: expertProfile({ callRate: { amountMinor: 100n, currency: "USD" } }),
      },
      expert.call,
    ),
  );
  t.equal(mismatch.reason, "CURRENCY_MISMATCH");
  const invalid = await failure(
    h.client.upsertExpertProfile(
      {
        reason: "",
        expertId: "",
        profile: expertProfile({ chatRate: inr(-1n), maxConcurrentSessions: 0, experienceYears: 200 }),
      },
      expert.call,
    ),
  );
  t.equal(invalid.reason, "VALIDATION_FAILED");
  t.equal(invalid.fieldViolations.length, 3);
  // A tag of endless subtags matches the pattern; one such would fill every listing page it is on.
  const endless = `en${"-abcdefgh".repeat(10_000)}`;
  const long = await failure(
    h.client.upsertExpertProfile(
      { reason: "", expertId: "", profile: expertProfile({ languages: ["hi", endless] }) },
      expert.call,
    ),
  );
  t.equal(long.reason, "VALIDATION_FAILED");
  t.same(
    long.fieldViolations.map((v) => v.field),
    ["profile.languages[1]"],
    "the tag too long is named, not echoed",
  );
  t.ok(JSON.stringify(long).length < 2_000, "the answer does not carry the tag back");
  const byStaff = await h.client.upsertExpertProfile(
    { reason: "", expertId: other.userId, profile: expertProfile() },
    h.as.operator,
  );
  t.equal(byStaff.expert?.userId, other.userId, "staff may set up an expert");
  const [{ count }] = await h.sql<
    [{ count: number }]
  >`select count(*)::int as count from users.experts where user_id = ${expert.userId}`;
  t.equal(count, 0, "refused upserts wrote nothing");
});

t.test(
  "availability: chosen, BUSY at capacity from session load, OFFLINE when presence expires",
  async (t) => {
    const expert = await h.expert({ maxConcurrentSessions: 2 });
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      OFFLINE,
      "offline until chosen",
    );
    const set = await h.client.setAvailability(
      { reason: "", expertId: "", availability: AVAILABLE },
      expert.call,
    );
    t.equal(set.expert?.availability, AVAILABLE);
    t.equal(
      (await h.client.reportExpertLoad({ expertId: expert.userId, activeSessions: 1 }, h.as.session))
        .availability,
      AVAILABLE,
    );
    t.equal(
      (await h.client.reportExpertLoad({ expertId: expert.userId, activeSessions: 2 }, h.as.session))
        .availability,
      BUSY,
      "at capacity the expert is busy",
    );
    t.equal((await h.client.getExpert({ expertId: expert.userId })).expert?.availability, BUSY);
    await h.client.reportExpertLoad({ expertId: expert.userId, activeSessions: 0 }, h.as.session);
    const derived = await failure(
      h.client.setAvailability({ reason: "", expertId: "", availability: BUSY }, expert.call),
    );
    t.equal(derived.reason, "AVAILABILITY_DERIVED");
    t.equal(
      (await h.client.setAvailability({ reason: "", expertId: "", availability: UNAVAILABLE }, expert.call))
        .expert?.availability,
      UNAVAILABLE,
    );
    await h.client.setAvailability({ reason: "", expertId: "", availability: AVAILABLE }, expert.call);

    const heartbeat = await h.client.reportPresence({ userId: expert.userId, online: true }, h.as.edge);
    t.same(heartbeat.expiresAt, new Date(h.clock.now.getTime() + PRESENCE_TTL_SECONDS * 1000));
    h.clock.advanceSeconds(PRESENCE_TTL_SECONDS - 1);
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      AVAILABLE,
      "still within TTL",
    );
    h.clock.advanceSeconds(2);
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      OFFLINE,
      "no heartbeat within the TTL: offline by itself",
    );
    await h.client.reportPresence({ userId: expert.userId, online: true }, h.as.session);
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      AVAILABLE,
      "back with a heartbeat",
    );
    const signOff = await h.client.reportPresence({ userId: expert.userId, online: false }, h.as.edge);
    t.equal(signOff.expiresAt, undefined);
    t.equal(
      (await h.client.getExpert({ expertId: expert.userId })).expert?.availability,
      OFFLINE,
      "signed off",
    );
  },
);

t.test("availability and load permissions", async (t) => {
  const expert = await h.expert();
  const other = await h.expert();
  t.equal(
    (
      await failure(
        h.client.setAvailability(
          { reason: "", expertId: other.userId, availability: AVAILABLE },
          expert.call,
        ),
      )
    ).reason,
    "NOT_YOUR_PROFILE",
  );
  const staff = await h.client.setAvailability(
    { reason: "", expertId: other.userId, availability: UNAVAILABLE },
    h.as.operator,
  );
  t.equal(staff.expert?.availability, UNAVAILABLE);
  const noProfile = await h.person("expert");
  t.equal(
    (
      await failure(
        h.client.setAvailability({ reason: "", expertId: "", availability: AVAILABLE }, noProfile.call),
      )
    ).reason,
    "EXPERT_NOT_FOUND",
  );
  const user = await h.person();
  t.equal(
    (
      await failure(
        h.client.setAvailability({ reason: "", expertId: "", availability: AVAILABLE }, user.call),
      )
    ).kind,
    "permission_denied",
  );
  for (const caller of [expert.call, h.as.edge, h.as.partnerA]) {
    t.equal(
      (await failure(h.client.reportExpertLoad({ expertId: expert.userId, activeSessions: 9 }, caller))).kind,
      "permission_denied",
    );
  }
  for (const caller of [expert.call, h.as.auth]) {
    t.equal(
      (await failure(h.client.reportPresence({ userId: expert.userId, online: true }, caller))).kind,
      "permission_denied",
    );
  }
  t.equal(
    (await failure(h.client.reportExpertLoad({ expertId: newId(), activeSessions: 1 }, h.as.session))).reason,
    "EXPERT_NOT_FOUND",
  );
  t.equal(
    (await failure(h.client.reportExpertLoad({ expertId: expert.userId, activeSessions: -1 }, h.as.session)))
      .reason,
    "VALIDATION_FAILED",
  );
});

t.test("UpdateRatingSummary counts each session once, only from session", async (t) => {
  const expert = await h.expert();
  const sessionA = newId();
  const first = await h.client.updateRatingSummary(
    { expertId: expert.userId, sessionId: sessionA, rating: 5 },
    h.as.session,
  );
  t.same(first, { ratingAverage: 5, ratingCount: 1, applied: true });
  const retry = await h.client.updateRatingSummary(
    { expertId: expert.userId, sessionId: sessionA, rating: 1 },
    h.as.session,
  );
  t.same(retry, { ratingAverage: 5, ratingCount: 1, applied: false }, "a repeat changes nothing");
  const concurrent = newId();
  const racing = await Promise.all(
    Array.from({ length: 10 }, () =>
      h.client.updateRatingSummary(
        { expertId: expert.userId, sessionId: concurrent, rating: 2 },
        h.as.session,
      ),
    ),
  );
  t.equal(racing.filter((r) => r.applied).length, 1, "concurrent repeats apply once");
  const { expert: shown } = await h.client.getExpert({ expertId: expert.userId });
  t.equal(shown?.ratingCount, 2);
  t.equal(shown?.ratingAverage, 3.5);
  t.equal(
    (
      await failure(
        h.client.updateRatingSummary({ expertId: newId(), sessionId: newId(), rating: 4 }, h.as.session),
      )
    ).reason,
    "EXPERT_NOT_FOUND",
  );
  t.equal(
    (
      await failure(
        h.client.updateRatingSummary(
          { expertId: expert.userId, sessionId: newId(), rating: 6 },
          h.as.session,
        ),
      )
    ).reason,
    "VALIDATION_FAILED",
  );
  for (const caller of [expert.call, h.as.operator, h.as.edge]) {
    t.equal(
      (
        await failure(
          h.client.updateRatingSummary({ expertId: expert.userId, sessionId: newId(), rating: 5 }, caller),
        )
      ).kind,
      "permission_denied",
    );
  }
});
