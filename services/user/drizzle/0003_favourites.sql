CREATE TABLE "users"."favourites" (
	"user_id" uuid NOT NULL,
	"expert_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_notified_at" timestamp with time zone,
	CONSTRAINT "favourites_user_id_expert_id_pk" PRIMARY KEY("user_id","expert_id")
);
--> statement-breakpoint
ALTER TABLE "users"."favourites" ADD CONSTRAINT "favourites_expert_id_experts_user_id_fk" FOREIGN KEY ("expert_id") REFERENCES "users"."experts"("user_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "favourites_by_expert" ON "users"."favourites" USING btree ("expert_id");--> statement-breakpoint
CREATE INDEX "favourites_by_user_recent" ON "users"."favourites" USING btree ("user_id","created_at","expert_id");