ALTER TABLE "billing"."payouts" ADD COLUMN "method" text;--> statement-breakpoint
ALTER TABLE "billing"."payouts" ADD COLUMN "holder_name" text;--> statement-breakpoint
ALTER TABLE "billing"."payouts" ADD COLUMN "sealed_details" "bytea";