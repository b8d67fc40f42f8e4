CREATE TABLE "sessions"."presence_seen" (
	"session_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "presence_seen_session_id_user_id_pk" PRIMARY KEY("session_id","user_id")
);
--> statement-breakpoint
CREATE INDEX "presence_seen_at" ON "sessions"."presence_seen" USING btree ("seen_at");