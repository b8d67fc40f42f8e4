import { chmod, mkdtemp, rm } from "node:fs/promises";
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
