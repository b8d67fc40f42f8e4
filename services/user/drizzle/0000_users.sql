CREATE SCHEMA "users";
--> statement-breakpoint
CREATE TABLE "users"."expert_ratings" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"expert_id" uuid NOT NULL,
	"rating" smallint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users"."experts" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"currency" char(3) NOT NULL,
	"chat_rate_minor" bigint NOT NULL,
	"call_rate_minor" bigint NOT NULL,
	"max_concurrent_sessions" integer NOT NULL,
	"specialisations" text[] NOT NULL,
	"languages" text[] NOT NULL,
	"experience_years" integer NOT NULL,
	"bio" text DEFAULT '' NOT NULL,
	"availability" text DEFAULT 'offline' NOT NULL,
	"active_sessions" integer DEFAULT 0 NOT NULL,
	"rating_sum" bigint DEFAULT 0 NOT NULL,
	"rating_count" integer DEFAULT 0 NOT NULL,
	"rating_average" double precision GENERATED ALWAYS AS (case when rating_count > 0 then rating_sum::float8 / rating_count else 0 end) STORED NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "experts_rates_non_negative" CHECK ("users"."experts"."chat_rate_minor" >= 0 and "users"."experts"."call_rate_minor" >= 0),
	CONSTRAINT "experts_capacity_positive" CHECK ("users"."experts"."max_concurrent_sessions" > 0)
);
--> statement-breakpoint
CREATE TABLE "users"."profiles" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"display_name" text NOT NULL,
	"avatar_url" text DEFAULT '' NOT NULL,
	"bio" text DEFAULT '' NOT NULL,
	"languages" text[] DEFAULT '{}' NOT NULL,
	"preferences" jsonb NOT NULL,
	"verified" boolean DEFAULT false NOT NULL,
	"partner_id" text,
	"external_id" text,
	"sync_status" text,
	"sync_count" integer DEFAULT 0 NOT NULL,
	"last_synced_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "profiles_sync_pair" CHECK (("users"."profiles"."partner_id" is null) = ("users"."profiles"."external_id" is null))
);
--> statement-breakpoint
ALTER TABLE "users"."expert_ratings" ADD CONSTRAINT "expert_ratings_expert_id_experts_user_id_fk" FOREIGN KEY ("expert_id") REFERENCES "users"."experts"("user_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users"."experts" ADD CONSTRAINT "experts_user_id_profiles_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "users"."profiles"("user_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "experts_specialisations_gin" ON "users"."experts" USING gin ("specialisations");--> statement-breakpoint
CREATE INDEX "experts_languages_gin" ON "users"."experts" USING gin ("languages");--> statement-breakpoint
CREATE INDEX "experts_rating_sort" ON "users"."experts" USING btree ("rating_average","rating_count","user_id");--> statement-breakpoint
CREATE INDEX "experts_chat_rate_sort" ON "users"."experts" USING btree ("chat_rate_minor","user_id");--> statement-breakpoint
CREATE INDEX "experts_call_rate_sort" ON "users"."experts" USING btree ("call_rate_minor","user_id");--> statement-breakpoint
CREATE INDEX "experts_experience_sort" ON "users"."experts" USING btree ("experience_years","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "profiles_partner_external_unique" ON "users"."profiles" USING btree ("partner_id","external_id");