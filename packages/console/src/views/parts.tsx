import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { Schemas } from "../api/client";
import { dateTime, enumText, errorText, money } from "../format";

/** What went wrong, announced at once; nothing when there is nothing. */
export function ErrorLine({ error }: { error: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

/** What an action did, announced politely; nothing when there is nothing. */
export function Notice({ message }: { message: string }) {
  return message ? (
    <p role="status" class="notice">
      {message}
    </p>
  ) : null;
}

/**
 * One action at a time from a view's buttons: busy while it runs, its failure as the view's
 * error (cleared when the next one starts).
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError("");
    try {
      await action();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

/** A wallet's balance, held and available amounts (`testId`-balance and -available on the figures). */
export function WalletFigures({
  wallet,
  testId,
  children,
}: {
  wallet: Schemas["parley.billing.v1.Wallet"];
  testId: string;
  children?: ComponentChildren;
}) {
  return (
    <dl class="figures" data-testid={testId}>
      <div>
        <dt>Balance</dt>
        <dd data-testid={`${testId}-balance`}>{money(wallet.balance)}</dd>
      </div>
      <div>
        <dt>Held</dt>
        <dd>{money(wallet.held)}</dd>
      </div>
      <div>
        <dt>Available</dt>
        <dd data-testid={`${testId}-available`}>{money(wallet.available)}</dd>
      </div>
      {children}
    </dl>
  );
}

/** Ledger postings, newest first, each with the balance after it. */
export function LedgerTable({ transactions }: { transactions: Schemas["parley.billing.v1.Transaction"][] }) {
  if (transactions.length === 0) return <p class="muted">No postings.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">What</th>
          <th scope="col">Amount</th>
          <th scope="col">Balance after</th>
        </tr>
      </thead>
      <tbody>
        {transactions.map((t) => (
          <tr key={t.transaction_id}>
            <td>{dateTime(t.created_at)}</td>
            <td>{enumText(t.type, "TRANSACTION_TYPE_")}</td>
            <td>{money(t.amount)}</td>
            <td>{money(t.balance_after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
