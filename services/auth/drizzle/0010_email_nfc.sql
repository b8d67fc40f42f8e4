-- Addresses are stored composed (NFC), as normaliseEmail now spells them: one written with a
-- decomposed accent is rewritten, unless the composed spelling already belongs to another
-- account, or another spelling of it to an older one (then they stay as they are, for staff to
-- sort out). Unicode normalisation needs a
-- UTF8 database; another has nothing to rewrite that it could compare.
DO $$
BEGIN
  IF current_setting('server_encoding') = 'UTF8' THEN
    UPDATE "auth"."accounts" AS a SET "email" = normalize(a."email", NFC)
    WHERE a."email" IS NOT NULL AND a."email" <> normalize(a."email", NFC)
      AND NOT EXISTS (SELECT FROM "auth"."accounts" AS b WHERE b."email" = normalize(a."email", NFC))
      -- Of several spellings of one address, none composed yet, only the oldest account's.
      AND a."id" = (SELECT c."id" FROM "auth"."accounts" AS c
        WHERE c."email" IS NOT NULL AND normalize(c."email", NFC) = normalize(a."email", NFC)
        ORDER BY c."created_at", c."id" LIMIT 1);
  END IF;
END $$;
