import t from "tap";
import { startLoneEdge } from "./alone";

const DOCUMENT_ONLY = [
  "referrer-policy",
  "cross-origin-opener-policy",
  "origin-agent-cluster",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-permitted-cross-domain-policies",
  "x-xss-protection",
];

t.test("a JSON answer of the API carries OWASP's REST headers; a document keeps helmet's set", async (t) => {
  const { url, userToken } = await startLoneEdge(t);

  const answers = [
    ["refused before any service", await fetch(`${url}/v1/me/wallet`)],
    [
      "a service that cannot be reached",
      await fetch(`${url}/v1/me/wallet`, { headers: { authorization: `Bearer ${await userToken()}` } }),
    ],
    ["no such route", await fetch(`${url}/v1/no-such-thing`)],
  ] as const;
  for (const [what, answer] of answers) {
    await answer.arrayBuffer();
    t.match(answer.headers.get("content-type"), /^application\/json/, `${what}: JSON (${answer.status})`);
    t.equal(answer.headers.get("content-security-policy"), "default-src 'none';frame-ancestors 'none'", what);
    t.equal(answer.headers.get("x-content-type-options"), "nosniff", what);
    t.equal(answer.headers.get("x-frame-options"), "DENY", what);
    t.equal(answer.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains", what);
    t.equal(answer.headers.get("cache-control"), "no-store", `${what}: private answers are not cached`);
    t.equal(answer.headers.get("cross-origin-resource-policy"), "same-origin", what);
    for (const name of DOCUMENT_ONLY) t.equal(answer.headers.get(name), null, `${what}: no ${name}`);
  }

  for (const path of ["/docs/", "/healthz", "/openapi.json"]) {
    const document = await fetch(`${url}${path}`);
    await document.arrayBuffer();
    t.equal(document.status, 200, path);
    t.match(document.headers.get("content-security-policy"), /script-src 'self' 'unsafe-inline'/, path);
    t.equal(document.headers.get("x-frame-options"), "SAMEORIGIN", path);
    t.equal(document.headers.get("referrer-policy"), "no-referrer", path);
    t.equal(document.headers.get("cache-control"), null, `${path}: caching left to the route`);
  }
});
