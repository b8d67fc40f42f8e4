-- Sides connected when presence timeouts arrived count as seen now: their next heartbeat (every
-- ≤ 30 s) keeps them, and one whose offline report was lost goes offline a timeout later.
UPDATE "sessions"."sessions" SET "user_seen_at" = now() WHERE "status" IN ('requested', 'waiting', 'active') AND "user_online";--> statement-breakpoint
UPDATE "sessions"."sessions" SET "expert_seen_at" = now() WHERE "status" IN ('requested', 'waiting', 'active') AND "expert_online";
