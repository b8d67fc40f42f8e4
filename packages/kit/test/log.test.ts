import { createTestDatabase } from "@parley/testing";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import t from "tap";
import { createDatabase } from "../src/db";
import { AppError } from "../src/errors";
import { createLogger } from "../src/log";

t.test("secrets are redacted wherever Parley's messages carry them", async (t) => {
  const lines: string[] = [];
  const log = createLogger({
    service: "test",
    destination: { write: (line: string) => void lines.push(line) },
  });
  log.info(
    {
      code: "123456",
      err: { message: "refused", details: { code: "223344" } },
      request: { resetToken: "reset-secret", newPassword: "pass-secret", mfaCode: "654321" },
      response: { enrolment: { otpauthUri: "otpauth://totp/x?secret=TOTPSECRET", backupCodes: ["bk-1"] } },
      call: { metadata: { headers: { authorization: "Bearer token-secret" } } },
      headers: { "x-api-key": "pk_key-secret" },
      grpcCode: "OK",
    },
    "call",
  );
  const line = lines.join("");
  for (const secret of [
    "123456",
    "reset-secret",
    "pass-secret",
    "654321",
    "TOTPSECRET",
    "bk-1",
    "token-secret",
    "pk_key-secret",
    "223344",
  ])
    t.notOk(line.includes(secret), `${secret} is not in the log`);
  t.match(
    JSON.parse(line),
    { grpcCode: "OK", request: { resetToken: "[redacted]" } },
    "the rest stays readable",
  );
});

t.test("a failed query is logged without its values, whoever wraps the error", async (t) => {
  const { url } = await createTestDatabase(t);
  const database = createDatabase(url, { max: 1 });
  t.teardown(database.close);
  await database.sql`create table secrets (id int primary key, hash text not null check (length(hash) < 8))`;
  const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
  const db = drizzle(database.sql);
  const failed = await db.execute(sql`insert into secrets (id, hash) values (${1}, ${hash})`).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(failed instanceof Error, "the insert fails on the check constraint");
  const lines: string[] = [];
  const log = createLogger({
    service: "test",
    destination: { write: (line: string) => void lines.push(line) },
  });
  log.error({ err: failed }, "insert failed");
  log.error({ err: new AppError("internal", "INTERNAL", "wrapped", { cause: failed }) }, "wrapped");
  for (const line of lines) {
    t.notOk(line.includes("argon2id"), "the hash is not in the log");
    const { err } = JSON.parse(line);
    t.match(err.message + err.stack, /Failed query: insert into secrets/, "the SQL text stays");
    t.match(err.message, /params: \[redacted\]/);
    t.match(err.message, /violates check constraint/, "what went wrong stays");
    const codes = [];
    for (let current = err; current; current = current.cause) codes.push(current.errorCode);
    t.ok(codes.includes("23514"), `the SQLSTATE stays (${JSON.stringify(codes)})`);
  }
});
