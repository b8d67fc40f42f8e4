DROP INDEX "sessions"."sessions_due";--> statement-breakpoint
ALTER TABLE "sessions"."sessions" ADD COLUMN "lease_epoch" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions"."sessions" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "sessions_lease" ON "sessions"."sessions" USING btree ("lease_until") WHERE lease_until is not null;--> statement-breakpoint
CREATE INDEX "sessions_due" ON "sessions"."sessions" USING btree ("next_charge_at") WHERE status = 'active' and lease_until is null and paused_at is null;