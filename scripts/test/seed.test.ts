import { launchTestPlatform } from "@parley/testing";
import t from "tap";
import { seedDemoData } from "../seed";

// `pnpm start` seeds a fresh platform moments after it starts, before auth's outbox has
// delivered the new accounts' profiles; an outbox that never runs during the test makes that
// the rule rather than a race.
t.test("the demo seed on a fresh platform, twice", async (t) => {
  const { platform, secrets } = await launchTestPlatform(t, { auth: { OUTBOX_INTERVAL_MS: "600000" } });
  const seed = () =>
    seedDemoData({
      grpc: platform.grpc,
      admin: { email: secrets.adminEmail, password: secrets.adminPassword },
    });
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
  const get = async (path: string, token?: string): Promise<any> => {
    const response = await fetch(platform.httpUrl + path, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    t.equal(response.status, 200, `GET ${path}`);
    return response.json();
  };
  const login = async (email: string, password: string): Promise<string> => {
    const response = await fetch(`${platform.httpUrl}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ identifier: email, password }),
    });
    t.equal(response.status, 200, `${email} signs in`);
    return ((await response.json()) as { tokens: { access_token: string } }).tokens.access_token;
  };
  const look = async () => {
    const user = await login(seeded.user.email, seeded.user.password);
    const experts = await get("/v1/experts?page_size=50");
    return {
      name: (await get("/v1/me", user)).profile.display_name,
      wallet: (await get("/v1/me/wallet", user)).wallet,
      experts: experts.experts
        .map((e: { display_name: string; chat_rate: { amount_minor: string } }) => ({
          name: e.display_name,
          chat: e.chat_rate.amount_minor,
        }))
        .sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)),
    };
  };

  const seeded = await seed();
  const first = await look();
  t.equal(first.name, "Priya Demo");
  t.match(first.wallet, { balance: { amount_minor: "50000", currency: "INR" } }, "Priya's wallet holds ₹500");
  t.same(first.experts, [
    { name: "Asha Rao", chat: "2000" },
    { name: "Meera Iyer", chat: "2500" },
    { name: "Ravi Menon", chat: "1500" },
  ]);
  for (const expert of seeded.experts) await login(expert.email, expert.password);

  t.same(await seed(), seeded, "a second run reports the same accounts");
  t.same(await look(), first, "and changes nothing: no second grant, no duplicate experts");

  // Someone signs in as Priya and changes her password: the next start still comes up.
  const priya = await login(seeded.user.email, seeded.user.password);
  const changed = await fetch(`${platform.httpUrl}/v1/auth/password:change`, {
    method: "POST",
    headers: { authorization: `Bearer ${priya}`, "content-type": "application/json" },
    body: JSON.stringify({ current_password: seeded.user.password, new_password: "Priya's own secret 42" }),
  });
  t.equal(changed.status, 200, "Priya's password changed");
  const third = await seed();
  t.same(third.left, [seeded.user.email], "her account is left as it is, and said so");
  const experts = await get("/v1/experts?page_size=50");
  t.equal(
    experts.experts.filter((e: { display_name: string }) =>
      first.experts.some((f: { name: string }) => f.name === e.display_name),
    ).length,
    3,
    "the experts are there as before",
  );
  for (const expert of seeded.experts) await login(expert.email, expert.password);

  // Staff suspend an expert from the back office: the next start still comes up.
  const admin = await login(secrets.adminEmail, secrets.adminPassword);
  const asha = experts.experts.find((e: { display_name: string }) => e.display_name === "Asha Rao");
  const suspended = await fetch(`${platform.httpUrl}/v1/admin/people/${asha.user_id}:suspend`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "seed test: a suspended demo account" }),
  });
  t.equal(suspended.status, 200, `Asha suspended: ${await suspended.text()}`);
  const fourth = await seed();
  t.same(
    fourth.left.sort(),
    [seeded.experts[0]!.email, seeded.user.email].sort(),
    "she is left as she is too",
  );
});
