import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import t from "tap";
import type { AccountStatus } from "../src/domain/model";
import { createOutboxQueue } from "../src/persistence/outbox";
import { createAuthStore } from "../src/persistence/store";
import { createOutboxWorker } from "../src/workers/outbox";
import { startHarness } from "./harness";

const unexpected = () => Promise.reject(new Error("not expected in this test"));

t.test(
  "a profile status change delivered late (a suspension retried after the unsuspension went through) sends the account's status as it is now",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    // Suspended and unsuspended again: the suspension's delivery failed once and waits for its
    // retry, so the unsuspension (written later) is due first.
    await h.sql`insert into auth.outbox (id, kind, payload, next_attempt_at) values
      (${newId()}, 'profile.status', ${h.sql.json({ userId: person.userId, status: "suspended" })}, now()),
      (${newId()}, 'profile.status', ${h.sql.json({ userId: person.userId, status: "active" })}, now() - interval '1 second')`;

    const sent: Array<[string, AccountStatus]> = [];
    const worker = createOutboxWorker({
      queue: createOutboxQueue(h.sql),
      accounts: createAuthStore(h.sql, () => new Date()),
      profiles: { ensureProfile: async () => {} },
      notifier: { sendPasswordReset: unexpected, sendNoAccountNotice: unexpected },
      notices: { notify: async () => {}, forgetLoginSession: unexpected },
      effects: {
        setProfileStatus: async (userId, status) => {
          if (userId === person.userId) sent.push([userId, status]);
        },
        endSessions: unexpected,
        forgetAuthor: unexpected,
        sendVerificationCode: unexpected,
      },
      log: createLogger({ service: "auth-test", level: "silent" }),
      intervalMs: 60_000,
    });
    while ((await worker.drainOnce()) > 0);

    t.same(sent, [
      [person.userId, "active"],
      [person.userId, "active"],
    ]);
    const [pending] = await h.sql<{ count: number }[]>`
      select count(*)::int as count from auth.outbox where delivered_at is null`;
    t.equal(pending!.count, 0, "both messages are delivered");
  },
);
