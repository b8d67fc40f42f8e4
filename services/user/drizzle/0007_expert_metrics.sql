CREATE TABLE "users"."expert_metrics" (
	"expert_id" uuid PRIMARY KEY NOT NULL,
	"month" text NOT NULL,
	"completed_sessions" integer NOT NULL,
	"repeat_client_rate" double precision NOT NULL,
	"median_first_response_seconds" integer,
	"as_of" timestamp with time zone NOT NULL
);
