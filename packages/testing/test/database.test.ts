import postgres from "postgres";
import t from "tap";
import { createTestDatabase } from "../src/index";

t.test("each test file gets its own empty, real database", async (t) => {
  const first = await createTestDatabase(t);
  const second = await createTestDatabase(t);
  t.not(first.url, second.url);
  const sql = postgres(first.url, { max: 1 });
  t.teardown(() => sql.end());
  await sql`create table probe (id int primary key)`;
  await sql`insert into probe values (1)`;
  const [row] = await sql`select count(*)::int as n from probe`;
  t.equal(row?.n, 1);
  const other = postgres(second.url, { max: 1 });
  t.teardown(() => other.end());
  const [exists] = await other`select to_regclass('probe') as t`;
  t.equal(exists?.t, null, "the other database does not see the table");
});
