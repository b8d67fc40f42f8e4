import { ConfigError, env, parseConfig } from "@parley/kit/config";
import t from "tap";

const shape = {
  GRPC_PORT: env.port(50054),
  DATABASE_URL: env.postgresUrl(),
  REDIS_URL: env.redisUrl(),
  SERVICE_SECRET: env.secret(),
};

t.test("valid variables parse into typed values with defaults", async (t) => {
  const config = parseConfig(shape, {
    DATABASE_URL: "postgres://localhost/parley",
    SERVICE_SECRET: "a-long-enough-secret",
  });
  t.equal(config.GRPC_PORT, 50054);
  t.equal(config.REDIS_URL, undefined);
});

t.test("every bad or missing variable is named in one error", async (t) => {
  const error = t.throws(() =>
    parseConfig(shape, { GRPC_PORT: "70000", DATABASE_URL: "mysql://x", SERVICE_SECRET: "short" }),
  ) as ConfigError;
  t.type(error, ConfigError);
  for (const name of ["GRPC_PORT", "DATABASE_URL", "SERVICE_SECRET"]) {
    t.ok(
      error.problems.some((problem) => problem.startsWith(`${name}:`)),
      `names ${name}`,
    );
  }
  t.notOk(
    error.problems.some((problem) => problem.startsWith("REDIS_URL")),
    "an optional unset variable is fine",
  );
});
