// The name a person gives at register is the name every read returns at once — their profile,
// and the expert listing when they set up an expert profile right after — not a placeholder.
import { launchTestPlatform } from "@parley/testing";
import t from "tap";
import { world } from "./world";

t.test("the display name chosen at register is what reads return, right away", async (t) => {
  // The outbox relay waits a minute: what the test reads was not left to it.
  const { platform, secrets } = await launchTestPlatform(t, { auth: { OUTBOX_INTERVAL_MS: "60000" } });
  const w = world(t, platform, secrets);

  const asha = await w.register("Asha Newcomer");
  const me = await w.ok("GET", "/v1/me", { token: asha.token });
  t.equal(me.profile?.display_name, "Asha Newcomer", "GET /v1/me right after register");

  // Registered, made an expert, and the expert profile set straight away.
  const ravi = await w.expert(1000, "Ravi Quick");
  const listed = await w.ok("GET", `/v1/experts/${ravi.userId}`, { token: asha.token });
  t.equal(listed.expert?.display_name, "Ravi Quick", "the expert is listed under the chosen name");
});
