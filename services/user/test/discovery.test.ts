import {
  ExpertAvailability,
  ExpertSort,
  type ListExpertsRequest,
  RateKind,
} from "@parley/proto/parley/user/v1/user";
import t from "tap";
import { failure, inr, startHarness } from "./harness";

const h = await startHarness(t);

const listRequest = (overrides: Partial<ListExpertsRequest> = {}): ListExpertsRequest => ({
  specialisation: "",
  language: "",
  availability: ExpertAvailability.EXPERT_AVAILABILITY_UNSPECIFIED,
  rateKind: RateKind.RATE_KIND_UNSPECIFIED,
  minRate: undefined,
  maxRate: undefined,
  minRating: 0,
  sort: ExpertSort.EXPERT_SORT_UNSPECIFIED,
  pageSize: 0,
  pageToken: "",
  ...overrides,
});

/** Every page of a query, following next_page_token. */
async function allPages(request: ListExpertsRequest, between?: () => Promise<void>) {
  const ids: string[] = [];
  let pageToken = "";
  for (let page = 0; page < 100; page++) {
    const response = await h.client.listExperts({ ...request, pageToken });
    ids.push(...response.experts.map((e) => e.userId));
    if (!response.nextPageToken) return ids;
    pageToken = response.nextPageToken;
    await between?.();
  }
  throw new Error("pagination did not end");
}

// A small catalogue with known attributes: tarot/vedic, languages, rates, experience, ratings.
const tarotHindi = await h.expert({
  specialisations: ["tarot"],
  languages: ["hi"],
  chatRate: inr(500n),
  callRate: inr(900n),
  experienceYears: 3,
});
const tarotEnglish = await h.expert({
  specialisations: ["tarot", "numerology"],
  languages: ["en"],
  chatRate: inr(2000n),
  callRate: inr(2500n),
  experienceYears: 15,
});
const vedicBoth = await h.expert({
  specialisations: ["vedic"],
  languages: ["en", "hi"],
  chatRate: inr(1200n),
  callRate: inr(1800n),
  experienceYears: 8,
});
const vedicUsd = await h.expert({
  specialisations: ["vedic"],
  languages: ["en"],
  chatRate: { amountMinor: 300n, currency: "USD" },
  callRate: { amountMinor: 500n, currency: "USD" },
  experienceYears: 20,
});
const catalogue = [tarotHindi, tarotEnglish, vedicBoth, vedicUsd];
for (const [expert, ratings] of [
  [tarotHindi, [5, 4]],
  [tarotEnglish, [5]],
  [vedicBoth, [3]],
] as const) {
  for (const rating of ratings)
    await h.client.updateRatingSummary(
      { expertId: expert.userId, sessionId: crypto.randomUUID(), rating },
      h.as.session,
    );
}
for (const expert of catalogue)
  await h.client.setAvailability(
    { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
    expert.call,
  );

t.test("filters: specialisation, language, rate range, minimum rating, availability", async (t) => {
  const ids = async (overrides: Partial<ListExpertsRequest>) =>
    new Set(await allPages(listRequest(overrides)));
  t.same(await ids({ specialisation: "TAROT" }), new Set([tarotHindi.userId, tarotEnglish.userId]));
  t.same(await ids({ language: "hi" }), new Set([tarotHindi.userId, vedicBoth.userId]));
  t.same(await ids({ specialisation: "vedic", language: "hi" }), new Set([vedicBoth.userId]));
  t.same(
    await ids({ minRate: inr(1000n), maxRate: inr(2000n) }),
    new Set([tarotEnglish.userId, vedicBoth.userId]),
  );
  t.same(
    await ids({ rateKind: RateKind.RATE_KIND_CALL, maxRate: inr(1000n) }),
    new Set([tarotHindi.userId]),
    "call rate",
  );
  t.same(
    await ids({ minRate: { amountMinor: 0n, currency: "USD" } }),
    new Set([vedicUsd.userId]),
    "currency filters",
  );
  t.same(await ids({ minRating: 4.5 }), new Set([tarotHindi.userId, tarotEnglish.userId]));
  await h.client.reportExpertLoad({ expertId: vedicBoth.userId, activeSessions: 2 }, h.as.session);
  await h.client.setAvailability(
    { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE },
    tarotHindi.call,
  );
  await h.client.reportPresence({ userId: vedicUsd.userId, online: false }, h.as.edge);
  t.same(
    await ids({ availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE }),
    new Set([tarotEnglish.userId]),
  );
  t.same(
    await ids({ availability: ExpertAvailability.EXPERT_AVAILABILITY_BUSY }),
    new Set([vedicBoth.userId]),
  );
  t.same(
    await ids({ availability: ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE }),
    new Set([tarotHindi.userId]),
  );
  t.same(
    await ids({ availability: ExpertAvailability.EXPERT_AVAILABILITY_OFFLINE }),
    new Set([vedicUsd.userId]),
    "presence gone",
  );
  const [listed] = (await h.client.listExperts(listRequest({ specialisation: "vedic", language: "hi" })))
    .experts;
  t.equal(
    listed?.availability,
    ExpertAvailability.EXPERT_AVAILABILITY_BUSY,
    "listed experts carry effective availability",
  );
  await h.client.reportExpertLoad({ expertId: vedicBoth.userId, activeSessions: 0 }, h.as.session);
  await h.client.setAvailability(
    { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
    tarotHindi.call,
  );
  await h.client.reportPresence({ userId: vedicUsd.userId, online: true }, h.as.edge);
});

t.test("sorts: rating, rate both ways, experience", async (t) => {
  const order = async (sort: ExpertSort, extra: Partial<ListExpertsRequest> = {}) =>
    (await allPages(listRequest({ sort, ...extra }))).filter((id) => catalogue.some((e) => e.userId === id));
  t.same(await order(ExpertSort.EXPERT_SORT_RATING_DESC), [
    tarotEnglish.userId,
    tarotHindi.userId,
    vedicBoth.userId,
    vedicUsd.userId,
  ]);
  t.same(await order(ExpertSort.EXPERT_SORT_RATE_ASC, { minRate: inr(0n) }), [
    tarotHindi.userId,
    vedicBoth.userId,
    tarotEnglish.userId,
  ]);
  t.same(await order(ExpertSort.EXPERT_SORT_RATE_DESC, { minRate: inr(0n) }), [
    tarotEnglish.userId,
    vedicBoth.userId,
    tarotHindi.userId,
  ]);
  t.same(await order(ExpertSort.EXPERT_SORT_EXPERIENCE_DESC), [
    vedicUsd.userId,
    tarotEnglish.userId,
    vedicBoth.userId,
    tarotHindi.userId,
  ]);
});

t.test("pagination is stable while experts are inserted, for every sort", async (t) => {
  const batch = await Promise.all(
    Array.from({ length: 25 }, (_, i) =>
      h.expert({
        specialisations: ["pagination"],
        chatRate: inr(BigInt(100 + (i % 5))),
        experienceYears: i % 3,
      }),
    ),
  );
  const before = new Set(batch.map((e) => e.userId));
  for (const sort of [
    ExpertSort.EXPERT_SORT_RATING_DESC,
    ExpertSort.EXPERT_SORT_RATE_ASC,
    ExpertSort.EXPERT_SORT_RATE_DESC,
    ExpertSort.EXPERT_SORT_EXPERIENCE_DESC,
  ]) {
    const seen = await allPages(
      listRequest({ specialisation: "pagination", sort, pageSize: 4 }),
      async () => {
        await h.expert({ specialisations: ["pagination"], chatRate: inr(102n), experienceYears: 1 });
      },
    );
    t.equal(new Set(seen).size, seen.length, `sort ${sort}: no expert twice`);
    t.ok(
      [...before].every((id) => seen.includes(id)),
      `sort ${sort}: every expert present at the start is listed`,
    );
  }
});

t.test("page size is capped and tokens belong to their query", async (t) => {
  await Promise.all(Array.from({ length: 105 }, () => h.expert({ specialisations: ["bulk"] })));
  const big = await h.client.listExperts(listRequest({ specialisation: "bulk", pageSize: 1000 }));
  t.equal(big.experts.length, 100, "page_size is capped at 100");
  t.not(big.nextPageToken, "");
  const rest = await h.client.listExperts(
    listRequest({ specialisation: "bulk", pageSize: 1000, pageToken: big.nextPageToken }),
  );
  t.equal(rest.experts.length, 5);
  t.equal(rest.nextPageToken, "", "the last page has no token");
  const byDefault = await h.client.listExperts(listRequest({ specialisation: "bulk" }));
  t.equal(byDefault.experts.length, 20, "default page size");
  const reused = await failure(
    h.client.listExperts(listRequest({ specialisation: "tarot", pageToken: big.nextPageToken })),
  );
  t.equal(reused.reason, "INVALID_PAGE_TOKEN", "a token from another query is refused");
  t.equal(
    (await failure(h.client.listExperts(listRequest({ pageToken: "garbage" })))).reason,
    "INVALID_PAGE_TOKEN",
  );
  t.equal((await failure(h.client.listExperts(listRequest({ minRating: 7 })))).reason, "VALIDATION_FAILED");
  // A token is signed: any edit of the right query's token (a rewound cursor, a changed key)
  // is refused, never a page from somewhere else or a 500.
  const [payload, signature] = big.nextPageToken.split(".");
  const genuine = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8"));
  for (const k of [[4.5], [5, 1], [4, 99_999_999_999], ["1"], []]) {
    const edited = `${Buffer.from(JSON.stringify({ ...genuine, k })).toString("base64url")}.${signature}`;
    t.equal(
      (await failure(h.client.listExperts(listRequest({ specialisation: "bulk", pageToken: edited }))))
        .reason,
      "INVALID_PAGE_TOKEN",
      `k = ${JSON.stringify(k)}`,
    );
  }
  const negative = await failure(h.client.listExperts(listRequest({ pageSize: -1 })));
  t.same(
    [negative.reason, negative.fieldViolations.map((v) => v.field)],
    ["VALIDATION_FAILED", ["page_size"]],
    "a negative page_size is refused",
  );
});

t.test("an availability filter pages through mostly-offline experts without losing anyone", async (t) => {
  const online = [];
  for (let i = 0; i < 30; i++) {
    const expert = await h.expert({ specialisations: ["sparse"] });
    if (i % 10 === 0) {
      await h.client.setAvailability(
        { reason: "", expertId: "", availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE },
        expert.call,
      );
      online.push(expert.userId);
    }
  }
  const seen = await allPages(
    listRequest({
      specialisation: "sparse",
      availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
      pageSize: 2,
    }),
  );
  t.same(new Set(seen), new Set(online), "every available expert, and only those");
  t.equal(seen.length, online.length, "none twice");
});
