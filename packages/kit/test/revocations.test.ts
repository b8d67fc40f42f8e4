import { randomUUID } from "node:crypto";
import t from "tap";
import { createPlatformIdentity } from "../src/auth/platform";
import { createRevocationList, type Revocation } from "../src/auth/revocations";
import type { Logger } from "../src/log";

const revocation = (seq: bigint, userId: string): Revocation => ({
  seq,
  subject: `user:${userId}`,
  reason: "account_suspended",
  revokedAt: new Date(),
});

t.test("every revocation listener hears it, whatever another one throws", async (t) => {
  const failures: unknown[] = [];
  const list = createRevocationList(undefined, (error) => failures.push(error));
  const heard: string[] = [];
  list.onRevoked(() => {
    throw new Error("a listener's bug");
  });
  list.onRevoked((revoked) => heard.push("userId" in revoked ? revoked.userId : ""));
  const [a, b] = [randomUUID(), randomUUID()];
  list.apply([revocation(1n, a), revocation(2n, b)]);
  t.equal(failures.length, 2, "each failure is told");
  t.same(heard, [a, b], "the other listener heard both");
  t.equal(list.cursor, 2n, "and both were applied");
});

t.test("failed revocation polls are warned of (once a minute) and their recovery told", async (t) => {
  const lines: Array<{ level: string; msg: string }> = [];
  const log = {
    warn: (_fields: unknown, msg: string) => lines.push({ level: "warn", msg }),
    info: (_fields: unknown, msg: string) => lines.push({ level: "info", msg }),
  } as unknown as Logger;
  let authUp = false;
  const identity = createPlatformIdentity({
    JWT_ISSUER: "https://issuer.test",
    JWT_AUDIENCE: "parley",
    SERVICE_ACCESS_TOKEN: "token",
    REVOCATION_POLL_MS: 20,
    log,
    directory: {
      getJwks: async () => ({ keys: [] }),
      verifyApiKey: async () => {
        throw new Error("unused");
      },
      issueServiceToken: async () => {
        throw new Error("unused");
      },
      listRevocations: async () => {
        if (!authUp) throw new Error("UNAUTHENTICATED: NO_SERVICE_IDENTITY");
        return [];
      },
    },
  });
  t.teardown(() => identity.stop());
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(
    lines.map((l) => l.level),
    ["warn"],
    "about ten failed polls: one warning, not one a poll, nor none",
  );
  t.match(lines[0]?.msg, /revoked credentials are still accepted/);
  authUp = true;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(lines.at(-1), { level: "info", msg: "revocations polled from auth again" });
});
