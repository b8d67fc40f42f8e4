-- The per-statement reference checks of 0003, written so that each new row is looked up through
-- an index: the planner may otherwise join the statement's rows against a scan of the whole
-- table (a bulk charge then costs as much as the ledger is long). Distinct keys first, then one
-- index probe per key (a scalar subquery is never turned into a join).
CREATE OR REPLACE FUNCTION "billing"."check_entry_references"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM (SELECT DISTINCT transaction_id FROM new_entries) n
    WHERE (SELECT t.xmin FROM billing.transactions t WHERE t.id = n.transaction_id)
          IS DISTINCT FROM pg_current_xact_id()::xid
  ) THEN
    RAISE EXCEPTION 'an entry names a journal transaction this database transaction did not write'
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
CREATE OR REPLACE FUNCTION "billing"."check_charge_rows"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_charges n
    WHERE (SELECT t.xmin FROM billing.transactions t WHERE t.id = n.transaction_id)
          IS DISTINCT FROM pg_current_xact_id()::xid
  ) THEN
    RAISE EXCEPTION 'a charge names a journal transaction this database transaction did not write'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'charges_transaction_written_together';
  END IF;
  IF EXISTS (
    SELECT 1 FROM (SELECT DISTINCT session_id FROM new_charges) n
    WHERE (SELECT i.id FROM billing.invoices i WHERE i.session_id = n.session_id) IS NOT NULL
  ) THEN
    RAISE EXCEPTION 'the session is settled; its minutes can no longer change'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'charges_session_not_settled';
  END IF;
  RETURN NULL;
END;
$$;
