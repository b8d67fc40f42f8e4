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

t.test("secret lists: comma-separated, none when unset, each long enough", async (t) => {
  const previous = { PREVIOUS: env.secretList(8) };
  t.same(parseConfig(previous, {}).PREVIOUS, []);
  t.same(parseConfig(previous, { PREVIOUS: " first-secret , second-secret," }).PREVIOUS, [
    "first-secret",
    "second-secret",
  ]);
  const error = t.throws(() => parseConfig(previous, { PREVIOUS: "long-enough,short" })) as ConfigError;
  t.match(error.problems, [/^PREVIOUS.*at least 8 characters/]);
  t.notMatch(error.message, /long-enough|short/, "the error does not echo the secrets");
});

t.test("network lists: addresses and CIDR ranges, a bad entry named", async (t) => {
  const networks = { TRUSTED: env.networkList("127.0.0.0/8,::1/128") };
  const loopback = parseConfig(networks, {}).TRUSTED;
  t.ok(loopback.check("127.0.0.1", "ipv4"));
  t.ok(loopback.check("::1", "ipv6"));
  t.notOk(loopback.check("10.0.0.7", "ipv4"));
  const edge = parseConfig(networks, { TRUSTED: "10.1.2.3, 172.28.0.0/16" }).TRUSTED;
  t.ok(edge.check("10.1.2.3", "ipv4"));
  t.ok(edge.check("172.28.9.9", "ipv4"));
  t.notOk(edge.check("10.1.2.4", "ipv4"));
  for (const typo of ["10.0.0.0/33", "10.0.0.5/", "10.0.0.0/8/1", "10.0.0.0/x"]) {
    const error = t.throws(() => parseConfig(networks, { TRUSTED: typo })) as ConfigError;
    t.match(
      error.problems[0],
      /is not an IP address or CIDR range/,
      `"${typo}" is refused, never read as /0`,
    );
  }
});

t.test("an empty variable is unset: its default applies", async (t) => {
  const config = parseConfig(shape, {
    GRPC_PORT: "",
    REDIS_URL: "",
    DATABASE_URL: "postgres://localhost/parley",
    SERVICE_SECRET: "a-long-enough-secret",
  });
  t.equal(config.GRPC_PORT, 50054, "not port 0");
  t.equal(config.REDIS_URL, undefined);
  t.throws(
    () => parseConfig(shape, { DATABASE_URL: "", SERVICE_SECRET: "a-long-enough-secret" }),
    /DATABASE_URL/,
  );
});
