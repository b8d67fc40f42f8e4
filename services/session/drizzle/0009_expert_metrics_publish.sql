CREATE TABLE "sessions"."expert_metrics_dirty" (
	"expert_id" uuid PRIMARY KEY NOT NULL
);
--> statement-breakpoint
-- An ended session changes its expert's public figures: the publisher (workers/metrics-publisher.ts)
-- sends them to the user service's expert profile.
CREATE FUNCTION "sessions"."expert_metrics_mark_dirty"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sessions.expert_metrics_dirty (expert_id) VALUES (NEW.expert_id) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "expert_metrics_dirty" AFTER UPDATE OF status ON "sessions"."sessions"
  FOR EACH ROW WHEN (NEW.status = 'ended' AND OLD.status IS DISTINCT FROM 'ended')
  EXECUTE FUNCTION "sessions"."expert_metrics_mark_dirty"();
