// The name a person gives at register is the name every read returns at once — their profile,
// and the expert listing when they set up an expert profile right after — not a placeholder.
import { randomUUID } from "node:crypto";
import { httpClient, launchTestPlatform } from "@parley/testing";
import t from "tap";

t.test("the display name chosen at register is what reads return, right away", async (t) => {
  // The outbox relay waits a minute: what the test reads was not left to it.
  const { platform, secrets } = await launchTestPlatform(t, { auth: { OUTBOX_INTERVAL_MS: "60000" } });
  const { call } = httpClient(platform.httpUrl);
  const password = "a passphrase for names";
  const register = async (name: string) => {
    const email = `name-${randomUUID()}@example.com`;
    const { status, body } = await call("POST", "/v1/auth/register", {
      body: { email, password, display_name: name },
    });
    t.equal(status, 200, `${name} registered`);
    return { email, userId: body.account.user_id as string, token: body.tokens.access_token as string };
  };

  const asha = await register("Asha Newcomer");
  const me = await call("GET", "/v1/me", { token: asha.token });
  t.equal(me.body.profile?.display_name, "Asha Newcomer", "GET /v1/me right after register");

  const ravi = await register("Ravi Quick");
  const admin = await call("POST", "/v1/auth/login", {
    body: { identifier: secrets.adminEmail, password: secrets.adminPassword },
  });
  const promoted = await call("POST", `/v1/users/${ravi.userId}/role`, {
    token: admin.body.tokens.access_token,
    body: { role: "ROLE_EXPERT" },
  });
  t.equal(promoted.status, 200, "made an expert");
  const login = await call("POST", "/v1/auth/login", { body: { identifier: ravi.email, password } });
  const expert = login.body.tokens.access_token as string;
  const profile = await call("PUT", `/v1/experts/${ravi.userId}/profile`, {
    token: expert,
    body: {
      chat_rate: { amount_minor: "1000", currency: "INR" },
      call_rate: { amount_minor: "1500", currency: "INR" },
      max_concurrent_sessions: 1,
      specialisations: ["vedic"],
      languages: ["en"],
      experience_years: 3,
    },
  });
  t.equal(profile.status, 200, "expert profile set at once");
  const listed = await call("GET", `/v1/experts/${ravi.userId}`, { token: asha.token });
  t.equal(listed.body.expert?.display_name, "Ravi Quick", "the expert is listed under the chosen name");
});
