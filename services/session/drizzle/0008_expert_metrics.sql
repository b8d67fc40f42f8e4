CREATE TABLE "sessions"."expert_clients" (
	"expert_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"sessions" integer NOT NULL,
	CONSTRAINT "expert_clients_expert_id_user_id_pk" PRIMARY KEY("expert_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "sessions"."expert_monthly" (
	"expert_id" uuid NOT NULL,
	"month" date NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"completed" integer DEFAULT 0 NOT NULL,
	"rating_sum" integer DEFAULT 0 NOT NULL,
	"rating_count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "expert_monthly_expert_id_month_pk" PRIMARY KEY("expert_id","month")
);
--> statement-breakpoint
CREATE TABLE "sessions"."expert_stats" (
	"expert_id" uuid PRIMARY KEY NOT NULL,
	"clients" integer DEFAULT 0 NOT NULL,
	"repeat_clients" integer DEFAULT 0 NOT NULL,
	"last_active_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "sessions"."first_responses" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"expert_id" uuid NOT NULL,
	"month" date NOT NULL,
	"seconds" integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX "first_responses_expert_month" ON "sessions"."first_responses" USING btree ("expert_id","month","seconds");--> statement-breakpoint
-- Expert metrics are kept current by triggers, in the transaction of each change, so a
-- dashboard read is a few primary-key lookups (and one month of one expert's first responses),
-- never a scan of history. Triggers rather than code: sessions end on several paths (EndSession,
-- the metering worker's set-based end of unpaid sessions, blocks), and the figures must follow
-- every one of them. `UPDATE OF status` fires only for statements that set the status: the
-- metering claims and charged minutes never do, so the per-minute path pays nothing.
CREATE FUNCTION "sessions"."expert_metrics_on_session"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  first_at timestamptz;
  client_sessions integer;
BEGIN
  IF NEW.status = OLD.status THEN
    RETURN NULL;
  END IF;
  IF NEW.status = 'waiting' THEN
    -- A request counts once its hold is placed (a refused request leaves nothing behind).
    INSERT INTO sessions.expert_monthly AS m (expert_id, month, requests)
    VALUES (NEW.expert_id, date_trunc('month', NEW.requested_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (expert_id, month) DO UPDATE SET requests = m.requests + 1;
  ELSIF NEW.status = 'active' THEN
    INSERT INTO sessions.expert_stats AS s (expert_id, last_active_at) VALUES (NEW.expert_id, NEW.accepted_at)
    ON CONFLICT (expert_id) DO UPDATE SET last_active_at = greatest(s.last_active_at, excluded.last_active_at);
  ELSIF NEW.status = 'ended' THEN
    INSERT INTO sessions.expert_monthly AS m (expert_id, month, completed)
    VALUES (NEW.expert_id, date_trunc('month', NEW.ended_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (expert_id, month) DO UPDATE SET completed = m.completed + 1;
    INSERT INTO sessions.expert_clients AS c (expert_id, user_id, sessions) VALUES (NEW.expert_id, NEW.user_id, 1)
    ON CONFLICT (expert_id, user_id) DO UPDATE SET sessions = c.sessions + 1
    RETURNING sessions INTO client_sessions;
    INSERT INTO sessions.expert_stats AS s (expert_id, clients, repeat_clients, last_active_at)
    VALUES (NEW.expert_id, 1, 0, NEW.ended_at)
    ON CONFLICT (expert_id) DO UPDATE SET
      clients = s.clients + CASE WHEN client_sessions = 1 THEN 1 ELSE 0 END,
      repeat_clients = s.repeat_clients + CASE WHEN client_sessions = 2 THEN 1 ELSE 0 END,
      last_active_at = greatest(s.last_active_at, excluded.last_active_at);
    IF NEW.started_at IS NOT NULL THEN
      SELECT min(sent_at) INTO first_at FROM sessions.messages
      WHERE session_id = NEW.id AND sender_id = NEW.expert_id::text;
      IF first_at IS NOT NULL THEN
        INSERT INTO sessions.first_responses (session_id, expert_id, month, seconds)
        VALUES (NEW.id, NEW.expert_id, date_trunc('month', NEW.ended_at AT TIME ZONE 'UTC')::date,
          greatest(0, floor(extract(epoch FROM first_at - NEW.started_at)))::integer)
        ON CONFLICT (session_id) DO NOTHING;
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "expert_metrics" AFTER UPDATE OF status ON "sessions"."sessions"
  FOR EACH ROW EXECUTE FUNCTION "sessions"."expert_metrics_on_session"();
--> statement-breakpoint
-- Ratings this month: a review counts in the month it was written, and leaves when hidden.
CREATE FUNCTION "sessions"."expert_metrics_on_review"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO sessions.expert_monthly AS m (expert_id, month, rating_sum, rating_count)
    VALUES (NEW.expert_id, date_trunc('month', NEW.created_at AT TIME ZONE 'UTC')::date, NEW.rating, 1)
    ON CONFLICT (expert_id, month) DO UPDATE SET rating_sum = m.rating_sum + NEW.rating,
      rating_count = m.rating_count + 1;
  ELSIF OLD.hidden_at IS NULL AND NEW.hidden_at IS NOT NULL THEN
    UPDATE sessions.expert_monthly SET rating_sum = rating_sum - NEW.rating, rating_count = rating_count - 1
    WHERE expert_id = NEW.expert_id AND month = date_trunc('month', NEW.created_at AT TIME ZONE 'UTC')::date;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "expert_metrics_reviews" AFTER INSERT OR UPDATE OF hidden_at ON "sessions"."reviews"
  FOR EACH ROW EXECUTE FUNCTION "sessions"."expert_metrics_on_review"();
