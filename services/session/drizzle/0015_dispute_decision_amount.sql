-- The amount of the dispute decision being made (0012 added the decision; a database migrated
-- while 0012 briefly carried this column has it already).
ALTER TABLE "sessions"."disputes" ADD COLUMN IF NOT EXISTS "decision_amount_minor" bigint;
