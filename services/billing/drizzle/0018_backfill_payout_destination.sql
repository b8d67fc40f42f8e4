-- Payouts still processing when payouts got their own destination go to the account as it is
-- now, if it is verified; one whose account changed since (KYC pending or rejected) is sent
-- nowhere until the account is verified again, and then there (see the store's destination).
UPDATE "billing"."payouts" p SET "method" = a."method", "holder_name" = a."holder_name", "sealed_details" = a."sealed_details"
FROM "billing"."payout_accounts" a
WHERE a."expert_user_id" = p."expert_user_id" AND p."status" = 'processing' AND p."sealed_details" IS NULL
  AND a."kyc_status" = 'verified';
