ALTER TABLE "sessions"."sessions" ADD COLUMN "user_seen_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sessions"."sessions" ADD COLUMN "expert_seen_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "sessions_user_seen" ON "sessions"."sessions" USING btree ("user_seen_at") WHERE status in ('requested', 'waiting', 'active') and user_online;--> statement-breakpoint
CREATE INDEX "sessions_expert_seen" ON "sessions"."sessions" USING btree ("expert_seen_at") WHERE status in ('requested', 'waiting', 'active') and expert_online;