// Every List RPC pages by one rule through the edge: a negative page_size is a 400 naming it,
// and a page token opens only the query it came from — edited, or taken to another list,
// it is a 400 INVALID_PAGE_TOKEN, never a rewound or foreign page.
import { randomUUID } from "node:crypto";
import { launchTestPlatform } from "@parley/testing";
import t from "tap";
import { world } from "./world";

t.test("one paging rule and signed page tokens on every list", async (t) => {
  const { platform, secrets } = await launchTestPlatform(t);
  const w = world(t, platform, secrets);
  const { call } = w;
  // Two of each: two admin sign-ins (sessions), two credits (transactions), two API keys.
  const admin = await w.admin();
  await w.admin();
  const person = await w.register("Pager");
  const user = person.token;
  await w.fund(person.userId, 100);
  await w.fund(person.userId, 200);
  for (const name of ["first", "second"])
    await w.ok("POST", "/v1/api-keys", {
      token: admin,
      body: { partner_id: "acme", name, scopes: ["users:read"], request_id: randomUUID() },
    });

  const lists: Array<{ path: string; token: string }> = [
    { path: "/v1/auth/sessions", token: admin },
    { path: "/v1/api-keys", token: admin },
    { path: "/v1/me/transactions", token: user },
    { path: "/v1/me/invoices", token: user },
    { path: "/v1/sessions", token: user },
    { path: `/v1/sessions/${randomUUID()}/messages`, token: user },
    { path: "/v1/experts", token: user },
    { path: "/v1/me/blocks", token: user },
    { path: "/v1/admin/moderation/reports", token: admin },
    { path: "/v1/admin/disputes", token: admin },
    { path: `/v1/experts/${randomUUID()}/reviews`, token: user },
  ];
  for (const { path, token } of lists) {
    const negative = await call("GET", `${path}?page_size=-1`, { token });
    t.equal(negative.status, 400, `${path}?page_size=-1 is a 400`);
    t.same(negative.body.error?.details?.field_violations?.[0]?.field, "page_size", "naming page_size");
  }

  /** A real second-page token of a list, and the first page it came after. */
  const secondPage = async (path: string, token: string) => {
    const first = await call("GET", `${path}?page_size=1`, { token });
    t.equal(first.status, 200, `${path} first page`);
    const next: string = first.body.next_page_token;
    t.ok(next, `${path} has a next page`);
    const second = await call("GET", `${path}?page_size=1&page_token=${encodeURIComponent(next)}`, { token });
    t.equal(second.status, 200, `${path} second page`);
    return next;
  };
  const sessionsToken = await secondPage("/v1/auth/sessions", admin);
  const keysToken = await secondPage("/v1/api-keys", admin);
  const transactionsToken = await secondPage("/v1/me/transactions", user);

  const refused = async (path: string, token: string, pageToken: string, why: string) => {
    const response = await call("GET", `${path}?page_size=1&page_token=${encodeURIComponent(pageToken)}`, {
      token,
    });
    t.equal(response.status, 400, why);
    t.equal(response.body.error?.reason, "INVALID_PAGE_TOKEN", why);
  };
  for (const [path, token, pageToken] of [
    ["/v1/auth/sessions", admin, sessionsToken],
    ["/v1/api-keys", admin, keysToken],
    ["/v1/me/transactions", user, transactionsToken],
  ] as const) {
    const [payload = "", signature] = pageToken.split(".");
    const cursor = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const rewound = JSON.stringify(cursor).replace(/\d/, (digit) => String((Number(digit) + 1) % 10));
    await refused(
      path,
      token,
      `${Buffer.from(rewound).toString("base64url")}.${signature}`,
      `${path}: an edited cursor`,
    );
  }
  for (const { path, token } of lists.filter((list) => list.path !== "/v1/me/transactions"))
    await refused(path, token, transactionsToken, `${path}: a token of another list`);
  await refused("/v1/auth/sessions", user, sessionsToken, "another person's token");
});
