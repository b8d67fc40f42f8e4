import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { migrateDatabase } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { createLogger } from "@parley/kit/log";
import { createTestDatabase } from "@parley/testing";
import postgres from "postgres";
import t from "tap";
import { type AccountStatus, type OutboxMessage, securityNotice } from "../src/domain/model";
import { createAuthStore } from "../src/persistence/store";
import { AUTH_MIGRATIONS } from "../src/server";
import { ADDRESS_MESSAGE_ATTEMPTS, createOutboxWorker, type OutboxWorkerDeps } from "../src/workers/outbox";
import { startHarness } from "./harness";

const unexpected = () => Promise.reject(new Error("not expected in this test"));

/** A relay over `sql` whose receivers fail unless the test gives them. */
const relay = (sql: postgres.Sql, deps: Partial<OutboxWorkerDeps>) =>
  createOutboxWorker({
    sql,
    listen: false,
    accounts: createAuthStore(sql, () => new Date()),
    profiles: { ensureProfile: unexpected },
    notifier: { sendPasswordReset: unexpected, sendNoAccountNotice: unexpected },
    notices: { notify: unexpected, notifyMany: unexpected, forgetLoginSession: unexpected },
    effects: {
      setProfileStatus: unexpected,
      endSessions: unexpected,
      forgetAuthor: unexpected,
      sendVerificationCode: unexpected,
    },
    log: createLogger({ service: "auth-test", level: "silent" }),
    intervalMs: 60_000,
    ...deps,
  });

const insert = (sql: postgres.Sql, message: OutboxMessage, nextAttemptAt = "now()") =>
  sql`insert into auth.outbox (id, payload, next_attempt_at)
      values (${newId()}, ${sql.json(message)}, ${sql.unsafe(nextAttemptAt)})`;

const rows = (sql: postgres.Sql) =>
  sql<{ payload: OutboxMessage; attempts: number; last_error: string | null; due_later: boolean }[]>`
    select payload, attempts, last_error, next_attempt_at > now() as due_later from auth.outbox order by position`;

t.test(
  "messages to an address are given up once stale: an expired reset link, or after too many attempts",
  async (t) => {
    const h = await startHarness(t);
    const { sql } = h;
    await sql`delete from auth.outbox`;
    const reset = (to: string, expiresAt: Date): OutboxMessage => ({
      kind: "notify.password_reset",
      payload: { channel: "email", to, token: "t0ken", expiresAt: expiresAt.toISOString() },
    });
    await insert(sql, reset("late@example.com", new Date(Date.now() - 1_000)));
    await insert(sql, reset("soon@example.com", new Date(Date.now() + 600_000)));
    await insert(sql, {
      kind: "notify.no_account",
      payload: { channel: "email", to: "refused@example.com" },
    });
    const sent: string[] = [];
    const worker = relay(sql, {
      notifier: {
        sendPasswordReset: async (message) => void sent.push(`reset ${message.to}`),
        sendNoAccountNotice: async () => Promise.reject(new Error("550 no such mailbox")),
      },
    });
    await worker.drainOnce();
    t.same(sent, ["reset soon@example.com"], "the expired link is not sent");
    const left = await rows(sql);
    t.same(
      left.map((row) => row.payload.kind),
      ["notify.no_account"],
      "the expired one is gone with its token; the refused notice waits for its next attempt",
    );
    await sql`update auth.outbox set attempts = ${ADDRESS_MESSAGE_ATTEMPTS}, next_attempt_at = now()`;
    await worker.drainOnce();
    t.same(await rows(sql), [], "after its last attempt it is given up, not retried for ever");
  },
);

t.test(
  "a profile status change delivered late (a suspension retried after the unsuspension went through) sends the account's status as it is now",
  async (t) => {
    const h = await startHarness(t);
    const person = await h.register();
    await h.sql`delete from auth.outbox`;
    // Suspended and unsuspended again: the suspension's delivery failed once and waits for its
    // retry, so the unsuspension (written later) is due first.
    await insert(h.sql, { kind: "profile.status", payload: { userId: person.userId, status: "suspended" } });
    await insert(
      h.sql,
      { kind: "profile.status", payload: { userId: person.userId, status: "active" } },
      "now() - interval '1 second'",
    );

    const sent: Array<[string, AccountStatus]> = [];
    const worker = relay(h.sql, {
      effects: {
        setProfileStatus: async (userId, status) => void sent.push([userId, status]),
        endSessions: unexpected,
        forgetAuthor: unexpected,
        sendVerificationCode: unexpected,
      },
    });
    while ((await worker.drainOnce()) > 0);

    t.same(sent, [
      [person.userId, "active"],
      [person.userId, "active"],
    ]);
    t.same(await rows(h.sql), [], "both messages are delivered, and deleted");
  },
);

t.test(
  "one person's messages in order, different people's at once; a failure backs off, the delivered leave",
  async (t) => {
    const h = await startHarness(t);
    await h.sql`delete from auth.outbox`;
    const [first, second, failing] = [newId(), newId(), newId()];
    await insert(h.sql, { kind: "sessions.forget_author", payload: { userId: first } });
    await insert(h.sql, { kind: "sessions.end", payload: { userId: first, reason: "account_suspended" } });
    await insert(h.sql, { kind: "sessions.forget_author", payload: { userId: second } });
    await insert(h.sql, { kind: "sessions.end", payload: { userId: failing, reason: "wallet_frozen" } });

    const heard: string[] = [];
    let secondHeard!: () => void;
    const secondDone = new Promise<void>((resolve) => {
      secondHeard = resolve;
    });
    const worker = relay(h.sql, {
      effects: {
        setProfileStatus: unexpected,
        // The first person's delivery waits for the second person's: only delivering them
        // concurrently gets past it (the timeout fails the test otherwise).
        forgetAuthor: async (userId) => {
          if (userId === first) {
            await Promise.race([
              secondDone,
              new Promise((_, reject) => setTimeout(() => reject(new Error("delivered one by one")), 5_000)),
            ]);
          }
          heard.push(`forget ${userId}`);
          if (userId === second) secondHeard();
        },
        endSessions: async (userId) => {
          if (userId === failing) throw new Error("session service unavailable");
          heard.push(`end ${userId}`);
        },
        sendVerificationCode: unexpected,
      },
    });
    t.equal(await worker.drainOnce(), 4);
    t.same(heard, [`forget ${second}`, `forget ${first}`, `end ${first}`]);
    t.same(
      await rows(h.sql),
      [
        {
          payload: { kind: "sessions.end", payload: { userId: failing, reason: "wallet_frozen" } },
          attempts: 1,
          last_error: "Error: session service unavailable",
          due_later: true,
        },
      ],
      "the delivered rows are deleted; the failed one waits for its retry, its error kept",
    );
    t.equal(await worker.drainOnce(), 0, "not due again before its backoff");
  },
);

t.test(
  "a failed delivery holds back its person's later messages, which then follow it in order",
  async (t) => {
    const h = await startHarness(t);
    await h.sql`delete from auth.outbox`;
    const person = newId();
    await insert(h.sql, { kind: "sessions.forget_author", payload: { userId: person } });
    await insert(h.sql, { kind: "sessions.end", payload: { userId: person, reason: "account_suspended" } });
    const heard: string[] = [];
    let down = true;
    const worker = relay(h.sql, {
      effects: {
        setProfileStatus: unexpected,
        forgetAuthor: async () => {
          if (down) throw new Error("session service unavailable");
          heard.push("forget");
        },
        endSessions: async () => {
          heard.push("end");
        },
        sendVerificationCode: unexpected,
      },
    });
    t.equal(await worker.drainOnce(), 2);
    t.same(heard, [], "the later message is not delivered before the failed one");
    t.same(
      (await rows(h.sql)).map((row) => [row.payload.kind, row.attempts, row.last_error, row.due_later]),
      [
        ["sessions.forget_author", 1, "Error: session service unavailable", true],
        ["sessions.end", 0, null, true],
      ],
      "both wait for the retry; only the failed one counts an attempt",
    );
    down = false;
    await h.sql`update auth.outbox set next_attempt_at = now() - interval '1 second'`;
    t.equal(await worker.drainOnce(), 2);
    t.same(heard, ["forget", "end"], "delivered in the order written");
    t.same(await rows(h.sql), []);
  },
);

/** The notices of a drain: what each call carried, by the `device` of each notice. */
const noticesHeard = (heard: string[]) => ({
  notify: async (_id: string, notice: { data: Record<string, string> }) =>
    void heard.push(`notify ${notice.data.device}`),
  notifyMany: async (notices: Array<{ notice: { data: Record<string, string> } }>) =>
    void heard.push(`many ${notices.map(({ notice }) => notice.data.device).join(",")}`),
  forgetLoginSession: unexpected,
});

const signIn = (userId: string, device: string) => securityNotice(userId, "new_sign_in", { device });

t.test("a burst of sign-in notices goes in one NotifyMany call, in the order written", async (t) => {
  const h = await startHarness(t);
  await h.sql`delete from auth.outbox`;
  const [person, other] = [newId(), newId()];
  for (const [userId, device] of [
    [person, "a1"],
    [person, "a2"],
    [other, "b1"],
    [person, "a3"],
    [person, "a4"],
  ] as const)
    await insert(h.sql, signIn(userId, device));
  const heard: string[] = [];
  const worker = relay(h.sql, { notices: noticesHeard(heard) });
  t.equal(await worker.drainOnce(), 5);
  t.same(heard, ["many a1,a2,b1,a3,a4"], "one call for every person's notices");
  t.same(await rows(h.sql), [], "all delivered and deleted");
});

t.test(
  "notices and other messages of one person keep their order: runs of notices between the others",
  async (t) => {
    const h = await startHarness(t);
    await h.sql`delete from auth.outbox`;
    const [person, other] = [newId(), newId()];
    await insert(h.sql, signIn(person, "a1"));
    await insert(h.sql, signIn(person, "a2"));
    await insert(h.sql, { kind: "sessions.forget_author", payload: { userId: person } });
    await insert(h.sql, signIn(other, "b1"));
    await insert(h.sql, signIn(person, "a3"));
    await insert(h.sql, { kind: "sessions.forget_author", payload: { userId: other } });
    await insert(h.sql, signIn(person, "a4"));
    await insert(h.sql, signIn(person, "a5"));
    const heard: string[] = [];
    const worker = relay(h.sql, {
      notices: noticesHeard(heard),
      effects: {
        setProfileStatus: unexpected,
        endSessions: unexpected,
        forgetAuthor: async (userId) => void heard.push(`forget ${userId === person ? "a" : "b"}`),
        sendVerificationCode: unexpected,
      },
    });
    t.equal(await worker.drainOnce(), 8);
    t.same(
      heard,
      ["many a1,a2,b1", "forget a", "forget b", "many a3,a4,a5"],
      "each person's notices up to their next other message go in one call, that message after it",
    );
    t.same(await rows(h.sql), []);
  },
);

t.test(
  "a failing NotifyMany is delivered again one by one: only the key of the notice that fails waits",
  async (t) => {
    const h = await startHarness(t);
    await h.sql`delete from auth.outbox`;
    const [person, poisoned] = [newId(), newId()];
    await insert(h.sql, signIn(person, "a1"));
    await insert(h.sql, signIn(poisoned, "p1"));
    await insert(h.sql, signIn(person, "a2"));
    await insert(h.sql, signIn(poisoned, "p2"));
    const heard: string[] = [];
    const worker = relay(h.sql, {
      notices: {
        notify: async (_id, notice) => {
          if (notice.data.device === "p1") throw new Error("refused p1");
          heard.push(`notify ${notice.data.device}`);
        },
        notifyMany: async (notices) => {
          heard.push(`many ${notices.map(({ notice }) => notice.data.device).join(",")} refused`);
          throw new Error("refused p1");
        },
        forgetLoginSession: unexpected,
      },
    });
    t.equal(await worker.drainOnce(), 4);
    t.same(
      heard,
      ["many a1,p1,a2,p2 refused", "notify a1", "notify a2"],
      "after the refused call, the other person's notices are delivered one by one, in order",
    );
    t.same(
      (await rows(h.sql)).map((row) => [
        row.payload.kind === "notify.security" && row.payload.payload.data.device,
        row.attempts,
        row.last_error,
        row.due_later,
      ]),
      [
        ["p1", 1, "Error: refused p1", true],
        ["p2", 0, null, true],
      ],
      "the failing notice waits for its retry, its person's later one with it",
    );
  },
);

t.test("a sign-in's notice wakes the relay (NOTIFY) and is deleted once delivered", async (t) => {
  const h = await startHarness(t);
  const person = await h.register();
  const delivered: Array<{ id: string; notice: string }> = [];
  const worker = relay(h.sql, {
    listen: true,
    // The poll never comes during the test: only the NOTIFY of the sign-in's statement wakes it.
    intervalMs: 600_000,
    profiles: { ensureProfile: async () => {} },
    notices: {
      notify: async (id, notice) => void delivered.push({ id, notice: notice.notice }),
      notifyMany: async (notices) => {
        for (const { eventId, notice } of notices) delivered.push({ id: eventId, notice: notice.notice });
      },
      forgetLoginSession: unexpected,
    },
  });
  await worker.start();
  t.teardown(worker.stop);
  const drained = async () => {
    for (let i = 0; i < 100 && (await rows(h.sql)).length > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
  };
  await drained();
  t.same(await rows(h.sql), [], "the registration's profile is delivered at start");

  // From a device the person has not used (the registering one raises no notice).
  await h.loginFrom({ ip: "203.0.113.20", userAgent: "a new laptop" }, person.email);
  await drained();
  t.same(
    delivered.map((d) => d.notice),
    ["new_sign_in"],
    "the sign-in notice reached the user service without a poll",
  );
  t.same(await rows(h.sql), [], "and left the table");
});

t.test(
  "migration: undelivered rows become the kit's messages in the order written, delivered ones go",
  async (t) => {
    // auth's migrations up to the one before the kit's outbox shape, applied first.
    const folder = await mkdtemp(path.join(tmpdir(), "auth-migrations-"));
    t.teardown(() => rm(folder, { recursive: true, force: true }));
    await cp(AUTH_MIGRATIONS.migrationsFolder, folder, { recursive: true });
    const journalPath = path.join(folder, "meta", "_journal.json");
    const journal = JSON.parse(await readFile(journalPath, "utf8")) as { entries: Array<{ tag: string }> };
    const before = journal.entries.findIndex((entry) => entry.tag === "0006_outbox_messages");
    t.ok(before > 0);
    await writeFile(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, before) }));
    const { url } = await createTestDatabase(t);
    await migrateDatabase(url, { ...AUTH_MIGRATIONS, migrationsFolder: folder });

    const sql = postgres(url, { max: 2, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 5 }));
    const [userId, older, newer, done] = [newId(), newId(), newId(), newId()];
    // Written later but stored first: the order carried over is the order written.
    await sql`insert into auth.outbox (id, kind, payload, created_at, attempts, last_error) values
      (${newer}, 'sessions.end', ${sql.json({ userId, reason: "account_suspended", "@trace": { traceparent: "00-x" } })},
        now() - interval '1 minute', 2, 'unavailable'),
      (${older}, 'sessions.forget_author', ${sql.json({ userId })}, now() - interval '2 minutes', 0, null),
      (${done}, 'profile.ensure', '{}', now() - interval '3 minutes', 1, null)`;
    await sql`update auth.outbox set delivered_at = now() where id = ${done}`;

    await migrateDatabase(url, AUTH_MIGRATIONS);
    t.same(await sql`select id, payload, attempts, last_error from auth.outbox order by position`, [
      {
        id: older,
        payload: { kind: "sessions.forget_author", payload: { userId } },
        attempts: 0,
        last_error: null,
      },
      {
        id: newer,
        payload: {
          kind: "sessions.end",
          payload: { userId, reason: "account_suspended" },
          "@trace": { traceparent: "00-x" },
        },
        attempts: 2,
        last_error: "unavailable",
      },
    ]);

    const heard: string[] = [];
    await sql`update auth.outbox set next_attempt_at = now()`;
    const worker = relay(sql, {
      effects: {
        setProfileStatus: unexpected,
        forgetAuthor: async () => void heard.push("forget"),
        endSessions: async () => void heard.push("end"),
        sendVerificationCode: unexpected,
      },
    });
    t.equal(await worker.drainOnce(), 2);
    t.same(heard, ["forget", "end"], "delivered in the order written");
    t.same(await rows(sql), []);
  },
);
