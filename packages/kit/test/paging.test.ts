import { failure } from "@parley/testing";
import t from "tap";
import { createPaging, cursors, pageSize } from "../src/paging";

const SIZES = { default: 20, max: 100 };
const secret = "paging-test-secret-0123456789abcdef";

t.test("page_size: 0 is the default, above the maximum is clamped, negative is refused", async (t) => {
  t.equal(pageSize(0, SIZES), 20);
  t.equal(pageSize(7, SIZES), 7);
  t.equal(pageSize(1_000_000, SIZES), 100);
  const refused = await failure(Promise.resolve().then(() => pageSize(-1, SIZES)));
  t.equal(refused.kind, "invalid_argument");
  t.same(
    refused.fieldViolations.map((v) => v.field),
    ["page_size"],
  );
});

t.test("a token opens the next page of its own query, and nothing else", async (t) => {
  const paging = createPaging(secret);
  const open = (pageToken: string, query: unknown[] = ["svc.List", "user-1"]) =>
    paging.open({ pageSize: 2, pageToken }, { query, sizes: SIZES, cursor: cursors.int64 });
  const first = open("");
  t.equal(first.after, undefined, "the first page starts at the beginning");
  t.equal(first.next(undefined), "", "no more rows: no token");
  const token = first.next(41n);
  t.equal(open(token).after, 41n, "the cursor comes back");
  t.equal(open(token).size, 2);

  const reason = async (pageToken: string, query?: unknown[]) =>
    (await failure(Promise.resolve().then(() => open(pageToken, query)))).reason;
  for (let i = 0; i < token.length; i++) {
    const changed = token[i] === "A" ? "B" : "A";
    const edited = token.slice(0, i) + changed + token.slice(i + 1);
    t.equal(await reason(edited), "INVALID_PAGE_TOKEN", `an edit at ${i} is refused`);
  }
  const [, signature] = token.split(".");
  const rewound = `${Buffer.from(JSON.stringify("1")).toString("base64url")}.${signature}`;
  t.equal(await reason(rewound), "INVALID_PAGE_TOKEN", "a rewound cursor under the old signature");
  t.equal(await reason(token, ["svc.List", "user-2"]), "INVALID_PAGE_TOKEN", "another caller's query");
  t.equal(await reason(token, ["svc.Other", "user-1"]), "INVALID_PAGE_TOKEN", "another RPC");
  const elsewhere = createPaging("another-secret-0123456789abcdefghij").open(
    { pageSize: 0, pageToken: "" },
    { query: ["svc.List", "user-1"], sizes: SIZES, cursor: cursors.int64 },
  );
  t.equal(await reason(elsewhere.next(41n)), "INVALID_PAGE_TOKEN", "a token signed with another key");
  const accented = `${token.split(".")[0]}.${"é".repeat(signature!.length)}`;
  t.equal(await reason(accented), "INVALID_PAGE_TOKEN", "a signature as long in characters, not in bytes");
  for (const garbage of ["garbage", "a.b.c", "."])
    t.equal(await reason(garbage), "INVALID_PAGE_TOKEN", `garbage ${JSON.stringify(garbage)}`);
});

t.test("a signed token whose cursor does not decode is refused too", async (t) => {
  const paging = createPaging(secret);
  const options = { query: ["svc.List"], sizes: SIZES };
  const token = paging.open({ pageSize: 0, pageToken: "" }, { ...options, cursor: cursors.timeAndId }).next({
    at: new Date("2026-01-01T00:00:00Z"),
    id: "01900000-0000-7000-8000-000000000000",
  });
  const asUuid = await failure(
    Promise.resolve().then(() =>
      paging.open({ pageSize: 0, pageToken: token }, { ...options, cursor: cursors.uuid }),
    ),
  );
  t.equal(asUuid.reason, "INVALID_PAGE_TOKEN");
  t.throws(() => createPaging("short"), /at least 32 characters/);
});
