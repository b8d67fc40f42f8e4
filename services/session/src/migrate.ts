// `node dist/migrate.js`: applies session's pending migrations and exits (Kubernetes runs it as a
// Job before a rollout; the service also migrates at start, then finding nothing to do).
import { env, loadConfig } from "@parley/kit/config";
import { migrateDatabase } from "@parley/kit/db";
import { SESSION_MIGRATIONS } from "./server";

const config = loadConfig({
  DATABASE_URL: env.postgresUrl(),
  /** A role that owns the schema, when DATABASE_URL's has only data access. */
  MIGRATION_DATABASE_URL: env.postgresUrl().optional(),
});
await migrateDatabase(config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL, SESSION_MIGRATIONS);
