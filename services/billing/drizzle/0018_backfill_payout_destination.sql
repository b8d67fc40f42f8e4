-- Payouts still processing when payouts got their own destination keep being sent where they
-- were before: the account as it is now.
UPDATE "billing"."payouts" p SET "method" = a."method", "holder_name" = a."holder_name", "sealed_details" = a."sealed_details"
FROM "billing"."payout_accounts" a
WHERE a."expert_user_id" = p."expert_user_id" AND p."status" = 'processing' AND p."sealed_details" IS NULL;
