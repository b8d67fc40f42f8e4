CREATE TABLE "auth"."attempt_counters" (
	"key" text PRIMARY KEY NOT NULL,
	"count" integer NOT NULL,
	"window_ends_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "attempt_counters_window_idx" ON "auth"."attempt_counters" USING btree ("window_ends_at");