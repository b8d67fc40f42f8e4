import t from "tap";
import { passwordHasher } from "../src/domain/passwords";
import { failure, PASSWORD, startHarness } from "./harness";

t.test(
  "a login the full hashing queue cannot take is refused at once, retryable, and not counted as an attempt",
  async (t) => {
    const h = await startHarness(t, { policy: { accountAttemptLimit: 2 } });
    const person = await h.register();
    // Every slot busy and the queue full: what a burst of sign-ins beyond the bound looks like.
    const { concurrency, queueLimit } = passwordHasher.settings;
    const burst = Array.from({ length: concurrency + queueLimit }, () =>
      passwordHasher.hash("a burst of other sign-ins"),
    );
    for (let i = 0; i < 3; i++) {
      const refused = await failure(
        h.client.login({ identifier: person.email, password: "a wrong password", deviceName: "" }),
      );
      t.equal(refused.kind, "resource_exhausted");
      t.equal(refused.reason, "PASSWORD_HASHING_BUSY");
      t.equal(refused.retryAfterSeconds, 1, "with a retry delay (RetryInfo)");
    }
    await Promise.all(burst);
    t.ok(
      await h.login(person.email, PASSWORD),
      "three refusals past a limit of two attempts locked nothing: none was counted",
    );
  },
);
