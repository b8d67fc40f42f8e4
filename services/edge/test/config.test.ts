import { type ConfigError, parseConfig } from "@parley/kit/config";
import t from "tap";
import { edgeConfigShape } from "../src/config";

t.test("TRUST_PROXY: none by default, a hop count or proxy addresses, never every hop", async (t) => {
  const trust = (value?: string) => parseConfig(edgeConfigShape, { TRUST_PROXY: value }).TRUST_PROXY;
  t.equal(trust(), false);
  t.equal(trust("1"), 1);
  t.equal(trust("10.0.0.0/8, 192.168.1.7"), "10.0.0.0/8, 192.168.1.7");
  for (const bad of ["true", "everyone", "10.0.0.0/99"]) {
    const error = t.throws(() => trust(bad)) as ConfigError;
    t.match(error.problems[0], /^TRUST_PROXY: must be a hop count or addresses/, `"${bad}" is refused`);
  }
});
