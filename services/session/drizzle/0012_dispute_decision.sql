ALTER TABLE "sessions"."disputes" ADD COLUMN "decision" text;--> statement-breakpoint
ALTER TABLE "sessions"."disputes" ADD COLUMN "decision_amount_minor" bigint;