import { statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import t from "tap";
import { startEmbeddedPostgres } from "../src/embedded-postgres";

const notRoot = process.getuid?.() !== 0 && "only root runs the cluster as the postgres user";

t.test(
  "as root, a data directory the postgres user cannot enter is refused, saying what to do",
  { skip: notRoot },
  async (t) => {
    const closed = await mkdtemp(path.join(tmpdir(), "parley-closed-"));
    t.teardown(() => rm(closed, { recursive: true, force: true }));
    await chmod(closed, 0o700);
    await t.rejects(
      startEmbeddedPostgres({ dataDir: path.join(closed, "cluster", "data") }),
      /"postgres" user when started as root, and that user cannot enter .*DATABASE_URL/,
    );
  },
);

/** As root the cluster runs as "postgres", who must be able to reach the binaries (a clone in a 0700 directory: not). */
function binariesUnreachable(): string | false {
  if (process.getuid?.() !== 0) return false;
  for (
    let dir = path.dirname(createRequire(import.meta.url).resolve("embedded-postgres"));
    ;
    dir = path.dirname(dir)
  ) {
    if ((statSync(dir).mode & 0o001) === 0)
      return `as root the cluster runs as the postgres user, who cannot enter ${dir} here`;
    if (path.dirname(dir) === dir) return false;
  }
}

t.test(
  "a cluster that cannot start says why: its port, its data and Postgres's own words",
  { skip: binariesUnreachable() },
  async (t) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const { port } = taken.address() as AddressInfo;
    const dataDir = await mkdtemp(path.join(tmpdir(), "parley-busy-"));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    if (process.getuid?.() === 0) await chmod(dataDir, 0o777);
    const failed = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, "data"),
      port,
      durable: false,
    }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    t.ok(failed, "refused");
    t.match(failed?.message, new RegExp(`did not start on port ${port} with its data in .*parley-busy-`));
    t.match(failed?.message, /it said:[\s\S]*(could not bind|Address already in use)/i, "with the reason");
  },
);
