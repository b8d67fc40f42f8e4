CREATE TABLE "billing"."payout_accounts" (
	"expert_user_id" text PRIMARY KEY NOT NULL,
	"method" text NOT NULL,
	"holder_name" text NOT NULL,
	"sealed_details" "bytea" NOT NULL,
	"masked" text NOT NULL,
	"kyc_status" text NOT NULL,
	"kyc_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing"."payouts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"expert_user_id" text NOT NULL,
	"currency" char(3) NOT NULL,
	"amount" bigint NOT NULL,
	"tds" bigint NOT NULL,
	"net" bigint NOT NULL,
	"status" text NOT NULL,
	"provider_payout_id" text,
	"failure_reason" text,
	"automatic" boolean DEFAULT false NOT NULL,
	"attempt" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payouts_amounts" CHECK ("billing"."payouts"."tds" >= 0 and "billing"."payouts"."net" > 0 and "billing"."payouts"."amount" = "billing"."payouts"."net" + "billing"."payouts"."tds")
);
--> statement-breakpoint
CREATE INDEX "payouts_expert_newest" ON "billing"."payouts" USING btree ("expert_user_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "payouts_status_newest" ON "billing"."payouts" USING btree ("status","id" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "payouts_provider_payout" ON "billing"."payouts" USING btree ("provider_payout_id");