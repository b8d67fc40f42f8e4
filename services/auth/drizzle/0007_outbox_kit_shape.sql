DROP INDEX "auth"."outbox_due_idx";--> statement-breakpoint
ALTER TABLE "auth"."outbox" ALTER COLUMN "id" SET DATA TYPE text;--> statement-breakpoint
ALTER TABLE "auth"."outbox" ADD COLUMN "position" bigint NOT NULL GENERATED ALWAYS AS IDENTITY (sequence name "auth"."outbox_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1);--> statement-breakpoint
CREATE INDEX "outbox_due" ON "auth"."outbox" USING btree ("next_attempt_at","position");--> statement-breakpoint
ALTER TABLE "auth"."outbox" DROP COLUMN "kind";--> statement-breakpoint
ALTER TABLE "auth"."outbox" DROP COLUMN "delivered_at";