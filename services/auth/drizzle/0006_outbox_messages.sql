-- auth.outbox takes the kit's outbox shape (0007 drops `kind` and `delivered_at`). Delivered rows
-- go (their payloads were blanked on delivery); each undelivered row's payload becomes the
-- OutboxMessage `{kind, payload}` the relay delivers, its trace context (`@trace`) moved up to
-- the top level, where the relay reads it.
DELETE FROM "auth"."outbox" WHERE "delivered_at" IS NOT NULL;--> statement-breakpoint
UPDATE "auth"."outbox" SET "payload" = jsonb_build_object('kind', "kind", 'payload', "payload" - '@trace')
  || CASE WHEN "payload" ? '@trace' THEN jsonb_build_object('@trace', "payload" -> '@trace') ELSE '{}'::jsonb END;
