import t from "tap";
import { createServiceTokenSource } from "../src/auth/service-token-source";

t.test("a service token is renewed beside the calls, and a failed renewal keeps the valid one", async (t) => {
  let now = 0;
  let issued = 0;
  let authUp = true;
  const source = createServiceTokenSource(
    async () => {
      if (!authUp) throw new Error("auth is down");
      issued += 1;
      return { token: `token-${issued}`, expiresAt: new Date(now + 900_000) };
    },
    () => now,
  );
  t.equal(await source(), "token-1", "fetched on first use");
  now = 750_000;
  t.equal(await source(), "token-1", "past 80% of its life: renewed in the background, this call keeps it");
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(await source(), "token-2", "then the new one");
  now = 750_000 + 720_000 + 1;
  authUp = false;
  t.equal(await source(), "token-2", "auth down while the token is still valid: calls go on with it");
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(await source(), "token-2", "and do not wait on auth again at once");
  now = 750_000 + 900_000 - 29_000;
  await t.rejects(source(), /auth is down/, "within 30 s of its expiry it is not handed out");
  authUp = true;
  t.equal(await source(), "token-3", "auth back: a fresh token");
});
