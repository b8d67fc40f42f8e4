import { sql } from "drizzle-orm";
import * as schema from "./schema";
import type { Tx } from "./shared";

/** The one lock every revocation insert takes (see insertRevocations). */
export const REVOCATIONS_LOCK = "parley:auth:revocations";

/**
 * Inserts revocations inside the caller's transaction, numbered in commit order. `seq` is
 * taken at INSERT, but verifiers page on `seq > cursor`: had a suspension taken seq 7 and
 * gone on working while a key revocation took 8 and committed, a poll in between would move
 * the cursor to 8 and never see 7. One transaction-scoped advisory lock, taken right before
 * the insert and held to the commit, makes every other inserter wait, so a seq is only ever
 * handed out after every smaller one has committed (or rolled back). Insert revocations
 * through here only, and as late in the transaction as possible: the lock is held to its end.
 */
export async function insertRevocations(
  tx: Tx,
  rows: Array<typeof schema.revocations.$inferInsert>,
): Promise<void> {
  if (rows.length === 0) return;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${REVOCATIONS_LOCK}))`);
  await tx.insert(schema.revocations).values(rows);
}
