ALTER TABLE "billing"."accounts" ADD COLUMN "frozen_at" timestamp with time zone;--> statement-breakpoint
-- A frozen wallet pays nothing, whatever path asks: the database refuses a balance that goes
-- down or a reservation that goes up on a wallet that was frozen before the change (the domain
-- refuses first, with WALLET_FROZEN; this is the invariant behind it, as for the ledger).
CREATE FUNCTION "billing"."refuse_frozen_debit"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'wallet % is frozen: % refused', OLD.id, TG_OP
    USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_frozen';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "accounts_frozen_no_debit" BEFORE UPDATE ON "billing"."accounts"
  FOR EACH ROW
  WHEN (OLD.frozen_at IS NOT NULL AND NEW.frozen_at IS NOT NULL
    AND (NEW.balance < OLD.balance OR NEW.held > OLD.held))
  EXECUTE FUNCTION "billing"."refuse_frozen_debit"();
