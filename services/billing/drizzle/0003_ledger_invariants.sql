-- The ledger's invariants, held by the database itself as the last line of defence: whatever a
-- bug or a hand-typed query does with the service's own role, it cannot commit money that does
-- not add up.
--
-- 1. A wallet's `held` is what its holds stored as open still reserve, and never more than its
--    balance: a CHECK on the row (free on every charge), and a deferred trigger that, for every
--    hold or `held` that changed, requires the two to agree at commit. Overdue holds are expired
--    first (the service expires them whenever it touches a wallet, so stored state and decisions
--    agree).
ALTER TABLE "billing"."accounts" ADD COLUMN "held" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE "billing"."holds" SET "status" = 'expired', "resolved_at" = now()
WHERE "status" = 'open' AND "expires_at" <= now();--> statement-breakpoint
UPDATE "billing"."accounts" a SET "held" = r.reserved
FROM (SELECT "account_id", sum("amount" - "captured") AS reserved FROM "billing"."holds"
      WHERE "status" = 'open' GROUP BY "account_id") r
WHERE a."id" = r."account_id";--> statement-breakpoint
ALTER TABLE "billing"."accounts" ADD CONSTRAINT "accounts_held_within_balance" CHECK ("billing"."accounts"."held" >= 0 and "billing"."accounts"."held" <= "billing"."accounts"."balance" and ("billing"."accounts"."kind" = 'wallet' or "billing"."accounts"."held" = 0));--> statement-breakpoint
CREATE FUNCTION "billing"."assert_held_matches_holds"(wallet uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  stored bigint;
  reserved numeric;
BEGIN
  SELECT held INTO stored FROM billing.accounts WHERE id = wallet;
  SELECT coalesce(sum(amount - captured), 0) INTO reserved
  FROM billing.holds WHERE account_id = wallet AND status = 'open';
  IF stored IS DISTINCT FROM reserved THEN
    RAISE EXCEPTION 'wallet % holds % but its open holds reserve %', wallet, stored, reserved
      USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_held_matches_holds';
  END IF;
END;
$$;--> statement-breakpoint
CREATE FUNCTION "billing"."check_hold_reserves"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM billing.assert_held_matches_holds(OLD.account_id); END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM billing.assert_held_matches_holds(NEW.account_id); END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE FUNCTION "billing"."check_account_held"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM billing.assert_held_matches_holds(NEW.id);
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "holds_reserve_what_wallets_hold" AFTER INSERT OR UPDATE OR DELETE ON "billing"."holds"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "billing"."check_hold_reserves"();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "accounts_held_set_matches_holds" AFTER UPDATE OF "held" ON "billing"."accounts"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD."held" IS DISTINCT FROM NEW."held")
  EXECUTE FUNCTION "billing"."check_account_held"();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "accounts_held_inserted_matches_holds" AFTER INSERT ON "billing"."accounts"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW."held" <> 0)
  EXECUTE FUNCTION "billing"."check_account_held"();--> statement-breakpoint
-- 2. Every journal transaction balances: at commit, its entries (at least two) sum to zero.
--    Entries can only be added to a journal transaction by the database transaction that wrote it
--    (checked per statement below), so checking each new journal transaction once is enough.
CREATE FUNCTION "billing"."check_transaction_balanced"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  total numeric;
  lines bigint;
BEGIN
  SELECT coalesce(sum(amount), 0), count(*) INTO total, lines
  FROM billing.entries WHERE transaction_id = NEW.id;
  IF lines < 2 OR total <> 0 THEN
    RAISE EXCEPTION 'journal transaction % does not balance: % entries summing to %', NEW.id, lines, total
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transactions_balanced';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "transactions_balanced" AFTER INSERT ON "billing"."transactions"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "billing"."check_transaction_balanced"();--> statement-breakpoint
-- 3. References of entries and charges, checked once per statement instead of one foreign-key
--    lookup per row: each names a journal transaction written by this same database transaction,
--    and each entry an existing account. Accounts are never deleted nor re-keyed, and journal
--    transactions are append-only, so nothing named can go away later.
ALTER TABLE "billing"."charges" DROP CONSTRAINT "charges_transaction_id_transactions_id_fk";--> statement-breakpoint
ALTER TABLE "billing"."entries" DROP CONSTRAINT "entries_transaction_id_transactions_id_fk";--> statement-breakpoint
ALTER TABLE "billing"."entries" DROP CONSTRAINT "entries_account_id_accounts_id_fk";--> statement-breakpoint
CREATE FUNCTION "billing"."check_entry_references"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_entries n
    WHERE NOT EXISTS (SELECT 1 FROM billing.transactions t
                      WHERE t.id = n.transaction_id AND t.xmin = pg_current_xact_id()::xid)
  ) THEN
    RAISE EXCEPTION 'an entry names a journal transaction this database transaction did not write'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'entries_transaction_written_together';
  END IF;
  IF EXISTS (
    SELECT 1 FROM new_entries n WHERE NOT EXISTS (SELECT 1 FROM billing.accounts a WHERE a.id = n.account_id)
  ) THEN
    RAISE EXCEPTION 'an entry names an account that does not exist'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'entries_account_exists';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "entries_references" AFTER INSERT ON "billing"."entries"
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION "billing"."check_entry_references"();--> statement-breakpoint
-- 4. Charges are append-only like entries, and a settled (invoiced) session's minutes never
--    change: a charge inserted after its session's invoice committed is refused (the trigger
--    reads the invoices as committed when the statement ends, not when it started).
CREATE FUNCTION "billing"."check_charge_rows"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_charges n
    WHERE NOT EXISTS (SELECT 1 FROM billing.transactions t
                      WHERE t.id = n.transaction_id AND t.xmin = pg_current_xact_id()::xid)
  ) THEN
    RAISE EXCEPTION 'a charge names a journal transaction this database transaction did not write'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'charges_transaction_written_together';
  END IF;
  IF EXISTS (SELECT 1 FROM new_charges n JOIN billing.invoices i ON i.session_id = n.session_id) THEN
    RAISE EXCEPTION 'the session is settled; its minutes can no longer change'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'charges_session_not_settled';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "charges_references" AFTER INSERT ON "billing"."charges"
  REFERENCING NEW TABLE AS new_charges FOR EACH STATEMENT EXECUTE FUNCTION "billing"."check_charge_rows"();--> statement-breakpoint
CREATE TRIGGER "charges_append_only" BEFORE UPDATE OR DELETE ON "billing"."charges"
  FOR EACH ROW EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();--> statement-breakpoint
CREATE TRIGGER "charges_no_truncate" BEFORE TRUNCATE ON "billing"."charges"
  FOR EACH STATEMENT EXECUTE FUNCTION "billing"."refuse_ledger_rewrite"();--> statement-breakpoint
CREATE FUNCTION "billing"."refuse_account_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'billing.accounts keep their identity: % refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;--> statement-breakpoint
CREATE TRIGGER "accounts_never_deleted" BEFORE DELETE ON "billing"."accounts"
  FOR EACH ROW EXECUTE FUNCTION "billing"."refuse_account_change"();--> statement-breakpoint
CREATE TRIGGER "accounts_no_truncate" BEFORE TRUNCATE ON "billing"."accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "billing"."refuse_account_change"();--> statement-breakpoint
CREATE TRIGGER "accounts_keys_fixed" BEFORE UPDATE OF "id", "kind", "owner_id", "currency" ON "billing"."accounts"
  FOR EACH ROW WHEN ((OLD."id", OLD."kind", OLD."owner_id", OLD."currency")
                     IS DISTINCT FROM (NEW."id", NEW."kind", NEW."owner_id", NEW."currency"))
  EXECUTE FUNCTION "billing"."refuse_account_change"();
