CREATE TABLE "auth"."audit_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"actor_id" uuid NOT NULL,
	"actor_role" text NOT NULL,
	"action" text NOT NULL,
	"method" text NOT NULL,
	"target_user_id" uuid,
	"reason" text NOT NULL,
	"outcome" text NOT NULL,
	"before" jsonb,
	"after" jsonb,
	"request_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_events_outcome_check" CHECK ("auth"."audit_events"."outcome" in ('done', 'denied'))
);
--> statement-breakpoint
ALTER TABLE "auth"."accounts" DROP CONSTRAINT "accounts_role_check";--> statement-breakpoint
CREATE INDEX "audit_events_time_idx" ON "auth"."audit_events" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "audit_events_target_idx" ON "auth"."audit_events" USING btree ("target_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "audit_events_actor_idx" ON "auth"."audit_events" USING btree ("actor_id","created_at","id");--> statement-breakpoint
ALTER TABLE "auth"."accounts" ADD CONSTRAINT "accounts_role_check" CHECK ("auth"."accounts"."role" in ('user', 'expert', 'operator', 'admin', 'support', 'moderator'));--> statement-breakpoint
-- The audit log is append-only, like billing's ledger: the database refuses to rewrite it,
-- whoever asks (a bug, a hand-typed query, a superuser going through the table).
CREATE FUNCTION "auth"."refuse_audit_rewrite"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'auth.% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "auth"."audit_events"
  FOR EACH ROW EXECUTE FUNCTION "auth"."refuse_audit_rewrite"();
--> statement-breakpoint
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "auth"."audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "auth"."refuse_audit_rewrite"();
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "auth"."audit_events" FROM PUBLIC;
