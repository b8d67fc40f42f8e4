-- Ledger history is append-only: no code path updates or deletes a posting, and the
-- database refuses it too, so a bug or a hand-typed query cannot rewrite money history.
CREATE FUNCTION "billing"."refuse_ledger_rewrite"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'billing.% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "entries_append_only" BEFORE UPDATE OR DELETE ON "billing"."entries"
  FOR EACH ROW EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();
--> statement-breakpoint
CREATE TRIGGER "entries_no_truncate" BEFORE TRUNCATE ON "billing"."entries"
  FOR EACH STATEMENT EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();
--> statement-breakpoint
CREATE TRIGGER "transactions_append_only" BEFORE UPDATE OR DELETE ON "billing"."transactions"
  FOR EACH ROW EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();
--> statement-breakpoint
CREATE TRIGGER "transactions_no_truncate" BEFORE TRUNCATE ON "billing"."transactions"
  FOR EACH STATEMENT EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();
