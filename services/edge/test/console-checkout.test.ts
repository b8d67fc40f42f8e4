import { randomUUID } from "node:crypto";
import t from "tap";
import { startPlatform } from "./harness";

t.test("the console's development checkout pays only the caller's own payment", async (t) => {
  const api = await startPlatform(t, { edge: { CONSOLE_DEVELOPMENT_CHECKOUT: "true" } });
  const owner = await api.register();
  const other = await api.register();
  const topUp = await api.call("POST", "/v1/me/topups", {
    token: owner.accessToken,
    body: { amount: { amount_minor: "1000", currency: "INR" }, request_id: randomUUID() },
  });
  t.equal(topUp.status, 200, JSON.stringify(topUp.body));
  const paymentId: string = topUp.body.payment.payment_id;
  const checkout = (token: string) =>
    api.call("POST", "/console/development-checkout", {
      token,
      body: { payment_id: paymentId, amount_minor: "1000", currency: "INR" },
    });
  const wallet = async () =>
    (await api.call("GET", "/v1/me/wallet", { token: owner.accessToken })).body.wallet?.balance?.amount_minor;

  const stranger = await checkout(other.accessToken);
  t.equal(stranger.status, 404, JSON.stringify(stranger.body));
  t.equal(await wallet(), "0", "someone else's checkout confirms nothing");
  const own = await checkout(owner.accessToken);
  t.equal(own.status, 200, JSON.stringify(own.body));
  t.equal(await wallet(), "1000", "the payer's own checkout credits the wallet");
});
