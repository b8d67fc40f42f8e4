-- Requests already waiting before queued_at existed keep their order (they were ordered by id,
-- a UUIDv7 minted at request time).
UPDATE "sessions"."sessions" SET "queued_at" = "requested_at" WHERE "status" = 'waiting' AND "queued_at" IS NULL;
