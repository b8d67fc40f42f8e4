import t from "tap";
import { addressKey } from "../src/addresses";

t.test("per-address limits count IPv4 addresses one by one and IPv6 ones by their /64", async (t) => {
  t.equal(addressKey("203.0.113.9"), "203.0.113.9");
  t.equal(addressKey("::ffff:203.0.113.9"), "203.0.113.9", "IPv4-mapped is the IPv4 address");
  for (const ip of ["2001:db8:1:2:aaaa::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::"])
    t.equal(addressKey(ip), "2001:db8:1:2::/64", `${ip}: its /64`);
  t.equal(addressKey("2001:db8:1:3::1"), "2001:db8:1:3::/64", "the next /64 is another key");
  t.equal(addressKey("::1"), "0:0:0:0::/64");
  t.equal(addressKey("2001:db8::"), "2001:db8:0:0::/64");
  t.equal(addressKey("2001:db8:1::5:1.2.3.4"), "2001:db8:1:0::/64", "an IPv4 tail is two groups");
  t.equal(addressKey("unknown"), "unknown", "anything else as it is");
});
