-- The ledger's invariants at a fraction of their cost per row (a 1,000-minute batch paid ~6 µs of
-- database time per journal transaction for the deferred trigger of 0003 alone, one PL/pgSQL call
-- and one query each at COMMIT). Same guarantees, checked once per statement where they can be:
--
-- 1. Session charges, the ledger's bulk postings, are written with their entries in one statement
--    (every writer does): at the end of that statement one query checks all of its session charges
--    (at least two entries summing to zero), and entries can never be added to a session charge by
--    a later statement (3.). Every other journal transaction keeps the deferred check at COMMIT of
--    0003, so a posting may still be written over several statements.
DROP TRIGGER "transactions_balanced" ON "billing"."transactions";--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "transactions_balanced" AFTER INSERT ON "billing"."transactions"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW."type" <> 'session_charge')
  EXECUTE FUNCTION "billing"."check_transaction_balanced"();--> statement-breakpoint
CREATE FUNCTION "billing"."check_session_charges_balanced"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_transactions n,
      LATERAL (SELECT coalesce(sum(e.amount), 0) AS total, count(*) AS lines
               FROM billing.entries e WHERE e.transaction_id = n.id) s
    WHERE n.type = 'session_charge' AND (s.lines < 2 OR s.total <> 0)
  ) THEN
    RAISE EXCEPTION 'a session charge does not balance: its statement wrote fewer than two entries or entries not summing to zero'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transactions_balanced';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "session_charges_balanced" AFTER INSERT ON "billing"."transactions"
  REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT
  EXECUTE FUNCTION "billing"."check_session_charges_balanced"();--> statement-breakpoint
-- 2. (as 0004) An entry names a journal transaction of its own database transaction and an existing
-- 3. account; and a session charge's entries are all written by the statement that wrote it: its
--    row and the statement's entries carry the same command id (cmin; ledger rows are append-only,
--    so it is the inserting command's).
CREATE OR REPLACE FUNCTION "billing"."check_entry_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  statement cid;
BEGIN
  SELECT e.cmin INTO statement FROM billing.entries e WHERE e.id = (SELECT min(id) FROM new_entries);
  IF EXISTS (
    SELECT 1 FROM (SELECT DISTINCT transaction_id FROM new_entries) n
      LEFT JOIN LATERAL (SELECT t.xmin, t.cmin, t.type FROM billing.transactions t
                         WHERE t.id = n.transaction_id) t ON true
    WHERE t.xmin IS DISTINCT FROM pg_current_xact_id()::xid
       OR (t.type = 'session_charge' AND t.cmin IS DISTINCT FROM statement)
  ) THEN
    RAISE EXCEPTION 'an entry names a journal transaction this statement (a session charge) or database transaction did not write'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'entries_transaction_written_together';
  END IF;
  IF EXISTS (
    SELECT 1 FROM (SELECT DISTINCT account_id FROM new_entries) n
    WHERE (SELECT a.id FROM billing.accounts a WHERE a.id = n.account_id) IS NULL
  ) THEN
    RAISE EXCEPTION 'an entry names an account that does not exist'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'entries_account_exists';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
-- 4. Wallet rows are updated by every charge: free space on their pages lets each update stay a
--    heap-only tuple (no new entry in the table's two indexes). Pages written from now on keep it.
ALTER TABLE "billing"."accounts" SET (fillfactor = 50);
