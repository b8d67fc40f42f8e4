DROP INDEX "billing"."payment_findings_once";--> statement-breakpoint
ALTER TABLE "billing"."payment_findings" ADD COLUMN "provider_refund_id" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "payment_findings_once" ON "billing"."payment_findings" USING btree ("payment_id","kind","provider_payment_id","provider_refund_id");