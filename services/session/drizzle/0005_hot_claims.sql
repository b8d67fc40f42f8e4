DROP INDEX "sessions"."sessions_lease";--> statement-breakpoint
DROP INDEX "sessions"."sessions_due";--> statement-breakpoint
CREATE INDEX "sessions_away" ON "sessions"."sessions" USING btree ("away_since") WHERE status = 'active' and away_since is not null;--> statement-breakpoint
CREATE INDEX "sessions_due" ON "sessions"."sessions" USING btree ("next_charge_at") WHERE status = 'active';--> statement-breakpoint
-- Room on every page for a claim's new row version: claims touch no indexed column, so they update in place (HOT).
ALTER TABLE "sessions"."sessions" SET (fillfactor = 80);