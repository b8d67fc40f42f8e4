CREATE TABLE "users"."notification_heads" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users"."notifications" (
	"user_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"notification_id" uuid NOT NULL,
	"producer" text NOT NULL,
	"event_id" text NOT NULL,
	"kind" text NOT NULL,
	"title" text NOT NULL,
	"body" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"read_at" timestamp with time zone,
	CONSTRAINT "notifications_user_id_seq_pk" PRIMARY KEY("user_id","seq"),
	CONSTRAINT "notifications_notification_id_unique" UNIQUE("notification_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_event_unique" ON "users"."notifications" USING btree ("producer","event_id");--> statement-breakpoint
CREATE INDEX "notifications_unread" ON "users"."notifications" USING btree ("user_id","seq") WHERE "users"."notifications"."read_at" is null;