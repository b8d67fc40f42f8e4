-- A charge row becomes its minute's idempotency key and keeps the receipt a retry gets back:
-- the request digest and the balances the minute left. Minutes charged before this migration
-- kept that answer in billing.idempotency_keys (key `charge:<session>:<minute>`); it is copied
-- here. Their hold remainder was not kept: it is set so that the minutes left it gives back,
-- (available + hold remainder) / amount, are exactly the ones answered then.
ALTER TABLE "billing"."charges" ADD COLUMN "request_hash" text;--> statement-breakpoint
ALTER TABLE "billing"."charges" ADD COLUMN "balance_after" bigint;--> statement-breakpoint
ALTER TABLE "billing"."charges" ADD COLUMN "available_after" bigint;--> statement-breakpoint
ALTER TABLE "billing"."charges" ADD COLUMN "hold_remaining_after" bigint;--> statement-breakpoint
UPDATE "billing"."charges" c SET
  "request_hash" = k.request_hash,
  "balance_after" = (k.response::jsonb -> 'balance' ->> '$bigint')::bigint,
  "available_after" = (k.response::jsonb -> 'available' ->> '$bigint')::bigint,
  "hold_remaining_after" = greatest(
    (k.response::jsonb -> 'minutesLeft' ->> '$bigint')::numeric * c.amount
      - (k.response::jsonb -> 'available' ->> '$bigint')::numeric, 0)::bigint
FROM "billing"."idempotency_keys" k
WHERE k.key = 'charge:' || c.session_id || ':' || c.minute AND k.response IS NOT NULL;--> statement-breakpoint
UPDATE "billing"."charges" SET "request_hash" = '', "balance_after" = 0, "available_after" = 0,
  "hold_remaining_after" = 0
WHERE "request_hash" IS NULL;--> statement-breakpoint
ALTER TABLE "billing"."charges" ALTER COLUMN "request_hash" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "billing"."charges" ALTER COLUMN "balance_after" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "billing"."charges" ALTER COLUMN "available_after" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "billing"."charges" ALTER COLUMN "hold_remaining_after" SET NOT NULL;
