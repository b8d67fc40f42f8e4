CREATE TABLE "sessions"."blocks" (
	"blocker_id" uuid NOT NULL,
	"blocked_id" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "blocks_blocker_id_blocked_id_pk" PRIMARY KEY("blocker_id","blocked_id")
);
--> statement-breakpoint
CREATE TABLE "sessions"."disputes" (
	"id" uuid PRIMARY KEY NOT NULL,
	"session_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"expert_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"note" text NOT NULL,
	"status" text NOT NULL,
	"evidence" jsonb NOT NULL,
	"proposed_outcome" text NOT NULL,
	"proposed_rule" text NOT NULL,
	"proposed_refund_minor" bigint NOT NULL,
	"currency" text NOT NULL,
	"refunded_minor" bigint,
	"refund_id" text,
	"resolution_note" text,
	"resolved_by" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "sessions"."presence_log" (
	"session_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"online" boolean NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions"."reports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"reporter_id" uuid,
	"request_id" text,
	"target_kind" text NOT NULL,
	"target_id" uuid NOT NULL,
	"subject_user_id" uuid NOT NULL,
	"session_id" uuid,
	"reason" text NOT NULL,
	"note" text NOT NULL,
	"source" text NOT NULL,
	"status" text NOT NULL,
	"resolution" text,
	"resolution_note" text,
	"resolved_by" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "sessions"."safety_outbox" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigint GENERATED ALWAYS AS IDENTITY (sequence name "sessions"."safety_outbox_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"payload" jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions"."user_ratings" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"expert_id" uuid NOT NULL,
	"rating" smallint NOT NULL,
	"text" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "sessions"."messages" ADD COLUMN "hidden_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sessions"."messages" ADD COLUMN "flagged" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions"."reviews" ADD COLUMN "reply" text;--> statement-breakpoint
ALTER TABLE "sessions"."reviews" ADD COLUMN "replied_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sessions"."reviews" ADD COLUMN "hidden_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "blocks_blocked" ON "sessions"."blocks" USING btree ("blocked_id","blocker_id");--> statement-breakpoint
CREATE UNIQUE INDEX "disputes_session" ON "sessions"."disputes" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "disputes_queue" ON "sessions"."disputes" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "presence_log_session" ON "sessions"."presence_log" USING btree ("session_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "reports_request" ON "sessions"."reports" USING btree ("reporter_id","request_id");--> statement-breakpoint
CREATE INDEX "reports_queue" ON "sessions"."reports" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "safety_outbox_due" ON "sessions"."safety_outbox" USING btree ("next_attempt_at","position");--> statement-breakpoint
CREATE INDEX "user_ratings_user" ON "sessions"."user_ratings" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "reviews_expert_public" ON "sessions"."reviews" USING btree ("expert_id","created_at","session_id") WHERE hidden_at is null;