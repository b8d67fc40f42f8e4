import { useEffect, useState } from "preact/hooks";
import { accessToken, api, must, requestId, type Schemas } from "../api/client";
import { errorText, money } from "../format";
import { ErrorLine, LedgerTable, Notice, useAction, WalletFigures } from "./parts";

type Wallet = Schemas["parley.billing.v1.Wallet"];
type Transaction = Schemas["parley.billing.v1.Transaction"];

/**
 * Pays a development top-up: the edge, when the platform runs for development
 * (CONSOLE_DEVELOPMENT_CHECKOUT, set by `pnpm start`), stands in for the development payment
 * provider's checkout and sends its signed webhook. Real providers (Stripe, Razorpay) open
 * their own checkout instead, which the console does not embed.
 */
async function payDevelopmentCheckout(payment: Schemas["parley.billing.v1.Payment"]) {
  const response = await fetch("/console/development-checkout", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await accessToken()}` },
    body: JSON.stringify({
      payment_id: payment.payment_id,
      amount_minor: payment.amount?.amount_minor,
      currency: payment.amount?.currency,
    }),
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    throw new Error(body.error?.message ?? `the development checkout answered ${response.status}`);
  }
}

export function WalletView() {
  const [wallet, setWallet] = useState<Wallet | undefined>();
  const [transactions, setTransactions] = useState<Transaction[]>([]);
  const [amount, setAmount] = useState("100");
  const [message, setMessage] = useState("");
  const { busy, error, setError, run } = useAction();

  const load = async () => {
    try {
      const [w, t] = await Promise.all([
        must(api.GET("/v1/me/wallet", { params: { query: {} } })),
        must(api.GET("/v1/me/transactions", { params: { query: { page_size: 20 } } })),
      ]);
      setWallet(w.wallet);
      setTransactions(t.transactions ?? []);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const topUp = () =>
    run(async () => {
      setMessage("");
      const rupees = Number(amount);
      if (!Number.isFinite(rupees) || rupees <= 0) throw new Error("Enter an amount above zero.");
      const data = await must(
        api.POST("/v1/me/topups", {
          body: {
            amount: { amount_minor: String(Math.round(rupees * 100)), currency: "INR" },
            provider: "development",
            request_id: requestId(),
          },
        }),
      );
      if (!data.payment) throw new Error("no payment was created");
      await payDevelopmentCheckout(data.payment);
      setMessage(`Top-up of ${money(data.payment.amount)} paid.`);
      await load();
    });

  return (
    <section aria-labelledby="wallet-heading">
      <h2 id="wallet-heading">Wallet</h2>
      {wallet?.frozen && (
        <p class="warning" role="alert" data-testid="wallet-frozen">
          Your wallet is frozen by staff: top-ups still land, but nothing can be spent until it is unfrozen.
        </p>
      )}
      {wallet && <WalletFigures wallet={wallet} testId="wallet" />}
      <form
        class="row"
        onSubmit={(event) => {
          event.preventDefault();
          void topUp();
        }}
      >
        <label>
          Top-up amount (₹)
          <input
            type="number"
            min="1"
            step="1"
            inputMode="numeric"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit" disabled={busy}>
          Top up (development provider)
        </button>
      </form>
      <Notice message={message} />
      <ErrorLine error={error} />
      <h3>History</h3>
      <LedgerTable transactions={transactions} />
    </section>
  );
}
