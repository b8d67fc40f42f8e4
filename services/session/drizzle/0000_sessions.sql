CREATE SCHEMA "sessions";
--> statement-breakpoint
CREATE TABLE "sessions"."messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"session_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"sender_id" text NOT NULL,
	"kind" text NOT NULL,
	"text" text NOT NULL,
	"attachment_url" text NOT NULL,
	"attachment_content_type" text NOT NULL,
	"client_msg_id" text NOT NULL,
	"sent_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions"."receipts" (
	"session_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"delivered_seq" bigint NOT NULL,
	"read_seq" bigint NOT NULL,
	CONSTRAINT "receipts_session_id_user_id_pk" PRIMARY KEY("session_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "sessions"."reviews" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"expert_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"rating" smallint NOT NULL,
	"text" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"rating_reported" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions"."session_events" (
	"session_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"body" jsonb NOT NULL,
	CONSTRAINT "session_events_session_id_seq_pk" PRIMARY KEY("session_id","seq")
);
--> statement-breakpoint
CREATE TABLE "sessions"."sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"expert_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"request_id" text NOT NULL,
	"rate_minor" bigint NOT NULL,
	"currency" text NOT NULL,
	"hold_id" text,
	"invoice_id" text,
	"minutes_charged" integer DEFAULT 0 NOT NULL,
	"minutes_left" bigint DEFAULT 0 NOT NULL,
	"end_reason" text,
	"requested_at" timestamp with time zone NOT NULL,
	"accepted_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	"next_charge_at" timestamp with time zone,
	"paused_at" timestamp with time zone,
	"user_online" boolean DEFAULT false NOT NULL,
	"expert_online" boolean DEFAULT false NOT NULL,
	"away_since" timestamp with time zone,
	"settlement_pending" boolean DEFAULT false NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "messages_seq" ON "sessions"."messages" USING btree ("session_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_client_msg_id" ON "sessions"."messages" USING btree ("session_id","sender_id","client_msg_id");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_request_id" ON "sessions"."sessions" USING btree ("user_id","request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_one_open_request" ON "sessions"."sessions" USING btree ("user_id","expert_id") WHERE status in ('requested', 'waiting');--> statement-breakpoint
CREATE INDEX "sessions_user" ON "sessions"."sessions" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "sessions_expert" ON "sessions"."sessions" USING btree ("expert_id","status","id");--> statement-breakpoint
CREATE INDEX "sessions_due" ON "sessions"."sessions" USING btree ("next_charge_at") WHERE status = 'active';--> statement-breakpoint
CREATE INDEX "sessions_waiting_expiry" ON "sessions"."sessions" USING btree ("expires_at") WHERE status = 'waiting';--> statement-breakpoint
CREATE INDEX "sessions_settlement" ON "sessions"."sessions" USING btree ("id") WHERE settlement_pending;