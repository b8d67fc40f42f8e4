import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import t from "tap";
import { startLoneEdge } from "./alone";

/** Pays a made-up payment through the console's development checkout, as `token`'s person if given. */
const developmentCheckout = (url: string, token?: string) =>
  fetch(`${url}/console/development-checkout`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ payment_id: "p", amount_minor: "100", currency: "INR" }),
  });

// The console's routes on an edge alone, over a console build made up for the test: what is
// served and how (types, caching, the console's own CSP), what is refused (paths outside the
// build, dotfiles), the demo accounts, and the development checkout, off unless configured.
t.test("the edge serves the console's build with its own policy", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "parley-console-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, "assets"));
  writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>console</title>");
  writeFileSync(path.join(dir, "assets/index-abc.js"), "console.log(1)");
  writeFileSync(path.join(dir, ".inputs-hash"), "secret-ish");
  writeFileSync(path.join(path.dirname(dir), "outside.html"), "outside");
  const accounts = [{ name: "Priya", email: "priya@parley.local", password: "pw", role: "user" }];
  const { url, userToken } = await startLoneEdge(t, {
    // Given with a trailing slash, as a shell's completion writes it.
    CONSOLE_DIR: `${dir}${path.sep}`,
    CONSOLE_DEMO_ACCOUNTS: JSON.stringify(accounts),
  });

  const bare = await fetch(`${url}/console`, { redirect: "manual" });
  t.equal(bare.status, 302);
  t.equal(bare.headers.get("location"), "/console/");

  const page = await fetch(`${url}/console/`);
  t.equal(page.status, 200);
  t.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  t.equal(page.headers.get("cache-control"), "no-cache", "the page is always revalidated");
  const csp = page.headers.get("content-security-policy") ?? "";
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ])
    t.ok(csp.split(";").includes(directive), `CSP has ${directive}`);
  t.notMatch(csp, /unsafe-inline/, "no inline script or style");
  t.equal(page.headers.get("x-content-type-options"), "nosniff", "helmet's other headers stay");

  const asset = await fetch(`${url}/console/assets/index-abc.js`);
  t.equal(asset.status, 200);
  t.equal(asset.headers.get("content-type"), "text/javascript; charset=utf-8");
  t.equal(
    asset.headers.get("cache-control"),
    "public, max-age=31536000, immutable",
    "hashed assets cached for good",
  );
  t.equal(await asset.text(), "console.log(1)");

  const deep = await fetch(`${url}/console/some/view`);
  t.equal(deep.status, 200, "any other path is the page");
  t.match(await deep.text(), /<title>console<\/title>/);

  t.equal((await fetch(`${url}/console/assets/missing.js`)).status, 404);
  t.equal((await fetch(`${url}/console/.inputs-hash`)).status, 404, "dotfiles are not served");
  t.equal((await fetch(`${url}/console/..%2Foutside.html`)).status, 404, "nothing outside the build");

  const demo = await fetch(`${url}/console/demo-accounts.json`);
  t.same(await demo.json(), accounts);
  t.equal(demo.headers.get("cache-control"), "no-store");

  // The API keeps its own (docs-friendly) policy.
  t.match((await fetch(`${url}/healthz`)).headers.get("content-security-policy"), /'unsafe-inline'/);

  const checkout = await developmentCheckout(url, await userToken());
  t.equal(checkout.status, 404, "the development checkout is off unless configured");
});

t.test("the development checkout needs a signed-in caller and well-formed fields", async (t) => {
  const { url } = await startLoneEdge(t, {
    CONSOLE_DEVELOPMENT_CHECKOUT: "true",
    WEBHOOK_SECRET: "a-webhook-secret-for-tests",
  });
  const anonymous = await developmentCheckout(url);
  t.equal(anonymous.status, 401);
  const refused = (await anonymous.json()) as { error: { status: string } };
  t.equal(refused.error.status, "UNAUTHENTICATED");
});

t.test("without a build the console answers 404 saying how to build it", async (t) => {
  const { url } = await startLoneEdge(t, { CONSOLE_DIR: path.join(tmpdir(), "parley-no-console-here") });
  const page = await fetch(`${url}/console/`);
  t.equal(page.status, 404);
  t.match(await page.text(), /pnpm build/);
  t.equal(await (await fetch(`${url}/console/demo-accounts.json`)).text(), "[]");
});

t.test(
  "demo accounts never offer an admin, and under NODE_ENV=production neither they nor the development checkout exist",
  async (t) => {
    const accounts = [
      { name: "Admin", email: "admin@parley.local", password: "pw", role: "admin" },
      { name: "Root", email: "root@parley.local", password: "pw", role: "ROLE_ADMIN" },
      { name: "Priya", email: "priya@parley.local", password: "pw", role: "user" },
    ];
    const development = await startLoneEdge(t, { CONSOLE_DEMO_ACCOUNTS: JSON.stringify(accounts) });
    t.same(
      await (await fetch(`${development.url}/console/demo-accounts.json`)).json(),
      [accounts[2]],
      "no admin is one click away",
    );

    const { url, userToken } = await startLoneEdge(t, {
      NODE_ENV: "production",
      CONSOLE_DEMO_ACCOUNTS: JSON.stringify(accounts),
      CONSOLE_DEVELOPMENT_CHECKOUT: "true",
      WEBHOOK_SECRET: "a-webhook-secret-for-tests",
    });
    t.equal((await fetch(`${url}/console/demo-accounts.json`)).status, 404, "no demo accounts in production");
    const checkout = await developmentCheckout(url, await userToken());
    t.equal(checkout.status, 404, "no development checkout in production, even when configured");
  },
);
