import t from "tap";
import { passwordHasher } from "../src/domain/passwords";
import { failure, PASSWORD, startHarness } from "./harness";

t.test(
  "a login the full hashing queue cannot take is refused at once, retryable, and not counted as an attempt",
  async (t) => {
    const h = await startHarness(t, { policy: { accountAttemptLimit: 30 } });
    const person = await h.register();
    const { concurrency, queueLimit } = passwordHasher.settings;
    // Every slot busy and the queue full — what a burst of sign-ins beyond the bound looks like —
    // topped up before each login, since a hash may finish (and free a place) at any moment.
    const burst: Promise<string>[] = [];
    const fill = () => {
      for (let load = passwordHasher.load(); load.running < concurrency || load.waiting < queueLimit; ) {
        burst.push(passwordHasher.hash("a burst of other sign-ins"));
        load = passwordHasher.load();
      }
    };
    const reasons: string[] = [];
    while (reasons.filter((reason) => reason === "PASSWORD_HASHING_BUSY").length < 3 && reasons.length < 20) {
      fill();
      const refused = await failure(
        h.client.login({ identifier: person.email, password: "a wrong password", deviceName: "" }),
      );
      reasons.push(refused.reason);
      if (refused.reason === "PASSWORD_HASHING_BUSY") {
        t.equal(refused.kind, "resource_exhausted");
        t.equal(refused.retryAfterSeconds, 1, "with a retry delay (RetryInfo)");
      } else t.equal(refused.reason, "INVALID_CREDENTIALS", "a hash finished first: the login went through");
    }
    await Promise.all(burst);
    const busy = reasons.filter((reason) => reason === "PASSWORD_HASHING_BUSY").length;
    t.equal(busy, 3, "refused while the queue was full");
    const [counted] = await h.sql<{ count: number }[]>`
      select coalesce(sum(count), 0)::int as count from auth.attempt_counters where key like 'login:ip:%'`;
    t.equal(counted!.count, reasons.length - busy, "only the logins hashing took are counted as attempts");
    t.ok(await h.login(person.email, PASSWORD), "and the right password still signs in");
  },
);
