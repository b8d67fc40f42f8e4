ALTER TABLE "users"."profiles" ADD COLUMN "display_name_is_placeholder" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Profiles made before this column by a read that beat auth's EnsureProfile still carry the stand-in name.
UPDATE "users"."profiles" SET "display_name_is_placeholder" = true WHERE "display_name" IN ('New user', 'New expert');
