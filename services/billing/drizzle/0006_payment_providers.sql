CREATE TABLE "billing"."payment_findings" (
	"id" uuid PRIMARY KEY NOT NULL,
	"payment_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"provider_payment_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "billing"."payments" ADD COLUMN "client_secret" text;--> statement-breakpoint
ALTER TABLE "billing"."payment_findings" ADD CONSTRAINT "payment_findings_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "billing"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "payment_findings_once" ON "billing"."payment_findings" USING btree ("payment_id","kind","provider_payment_id");--> statement-breakpoint
CREATE INDEX "payments_pending_oldest" ON "billing"."payments" USING btree ("created_at","id") WHERE status = 'pending';