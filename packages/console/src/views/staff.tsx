import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Identity, must, requestId, type Schemas } from "../api/client";
import { go } from "../app";
import { dateTime, endReason, enumText, errorText, money, status as statusText } from "../format";
import { useNames } from "../names";
import { ChatRoom } from "./chat";
import { ErrorLine, LedgerTable, Notice, WalletFigures } from "./parts";
import { Tabs } from "./tabs";

type Session = Schemas["parley.session.v1.Session"];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLES = [
  "ROLE_USER",
  "ROLE_EXPERT",
  "ROLE_SUPPORT",
  "ROLE_MODERATOR",
  "ROLE_OPERATOR",
  "ROLE_ADMIN",
] as const;
const REASONS = [
  "REFUND_REASON_SERVICE_ISSUE",
  "REFUND_REASON_BILLING_ERROR",
  "REFUND_REASON_CUSTOMER_REQUEST",
  "REFUND_REASON_GOODWILL",
  "REFUND_REASON_OTHER",
] as const;

/**
 * The back office (/v1/admin/…, and the staff side of billing's and session's RPCs): people
 * search; a person, viewed with a reason, with their account, wallet, sessions, ledger and
 * invoices, and the actions on them; the live sessions; payouts; what was found about payments
 * that needs a person; the audit log.
 */
export function StaffDesk({ identity, route }: { identity: Identity; route: string[] }) {
  const [page, id] = route;
  return (
    <>
      <Tabs
        current={page ?? "people"}
        tabs={[
          ["people", "People"],
          ["live", "Live sessions"],
          ["payouts", "Payouts"],
          ["findings", "Payment findings"],
          ...(identity.role === "admin" ? ([["audit", "Audit log"]] as Array<[string, string]>) : []),
        ]}
      />
      {page === "chat" && id ? (
        <ChatRoom key={id} identity={identity} sessionId={id} />
      ) : page === "person" && id ? (
        <Person identity={identity} userId={id} />
      ) : page === "live" ? (
        <LiveSessions />
      ) : page === "payouts" ? (
        <Payouts />
      ) : page === "findings" ? (
        <PaymentFindings />
      ) : page === "audit" ? (
        <AuditLog />
      ) : (
        <People />
      )}
    </>
  );
}

type SearchBy = "name" | "email" | "phone" | "external_id";
const SEARCH_BY: Array<[SearchBy, string]> = [
  ["name", "Name"],
  ["email", "Email"],
  ["phone", "Phone"],
  ["external_id", "Partner's id"],
];

/** People search (the back office's SearchPeople): by name part, email or phone prefix, partner id. */
function People() {
  const [by, setBy] = useState<SearchBy>("name");
  const [query, setQuery] = useState("");
  const [people, setPeople] = useState<Schemas["parley.auth.v1.Person"][] | undefined>();
  const [error, setError] = useState("");
  const search = async () => {
    setError("");
    const q = query.trim();
    if (UUID.test(q)) {
      go(`person/${q}`);
      return;
    }
    try {
      const data = await must(api.GET("/v1/admin/people", { params: { query: { [by]: q, page_size: 50 } } }));
      setPeople(data.people ?? []);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section aria-labelledby="people-heading">
      <h2 id="people-heading">People</h2>
      <form
        class="row"
        aria-label="Search people"
        onSubmit={(event) => {
          event.preventDefault();
          void search();
        }}
      >
        <label>
          Search by
          <select value={by} onChange={(e) => setBy(e.currentTarget.value as SearchBy)}>
            {SEARCH_BY.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search for (or a user id)
          <input value={query} onInput={(e) => setQuery(e.currentTarget.value)} required />
        </label>
        <button type="submit">Search</button>
      </form>
      <ErrorLine error={error} />
      {people?.length === 0 && <p class="muted">Nobody matches.</p>}
      <ul class="cards" aria-label="People found">
        {(people ?? []).map((person) => (
          <li key={person.user_id} class="card" data-testid="person-found">
            <p>
              <strong>{person.display_name || "(no name)"}</strong> ·{" "}
              {person.account?.email || person.account?.phone} · {enumText(person.account?.role, "ROLE_")}
              {person.account?.status === "ACCOUNT_STATUS_SUSPENDED" ? " · suspended" : ""}
              {person.external_id ? ` · ${person.partner_id}:${person.external_id}` : ""}
            </p>
            <button type="button" class="secondary" onClick={() => go(`person/${person.user_id}`)}>
              Open {person.display_name || person.user_id}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * One person. Staff first say why they look (the back office records every view with its
 * reason), then see the account, profile and wallet, sessions, ledger and invoices, and act:
 * credit, role (admin), suspension and wallet freeze (with a reason), session ends and refunds.
 */
function Person({ identity, userId }: { identity: Identity; userId: string }) {
  const [viewReason, setViewReason] = useState("");
  const [viewing, setViewing] = useState("");
  const [person, setPerson] = useState<Schemas["parley.auth.v1.Person"] | undefined>();
  const [wallet, setWallet] = useState<Schemas["parley.billing.v1.Wallet"] | undefined>();
  const [sessions, setSessions] = useState<Session[]>([]);
  const [transactions, setTransactions] = useState<Schemas["parley.billing.v1.Transaction"][]>([]);
  const [invoices, setInvoices] = useState<Schemas["parley.billing.v1.Invoice"][]>([]);
  const [credit, setCredit] = useState("50");
  const [role, setRole] = useState<(typeof ROLES)[number]>("ROLE_USER");
  const [why, setWhy] = useState("");
  const [message, setMessage] = useState("");
  const [error, setError] = useState("");
  const mayAct = identity.role === "admin" || identity.role === "support";

  const load = async (reason = viewing) => {
    if (!reason) return;
    setError("");
    try {
      const path = { user_id: userId };
      const shown = await must(
        api.GET("/v1/admin/people/{user_id}", { params: { path, query: { reason } } }),
      );
      setPerson(shown.person);
      setWallet(shown.wallet);
      if (shown.person?.account?.role) setRole(shown.person.account.role as (typeof ROLES)[number]);
      if (!mayAct) return;
      const [s, t, i] = await Promise.all([
        must(
          api.GET("/v1/admin/people/{user_id}/sessions", {
            params: { path, query: { reason, page_size: 50 } },
          }),
        ),
        must(
          api.GET("/v1/admin/people/{user_id}/transactions", {
            params: { path, query: { reason, page_size: 20 } },
          }),
        ),
        must(api.GET("/v1/me/invoices", { params: { query: { user_id: userId, page_size: 50 } } })),
      ]);
      setSessions(s.sessions ?? []);
      setTransactions(t.transactions ?? []);
      setInvoices(i.invoices ?? []);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const run = async (what: string, action: () => Promise<unknown>) => {
    setError("");
    setMessage("");
    try {
      await action();
      setMessage(what);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const withReason = (what: string, call: (reason: string) => Promise<unknown>) => () =>
    void run(what, () => call(why.trim()));
  const path = { user_id: userId };

  if (!viewing)
    return (
      <section aria-labelledby="person-heading">
        <h2 id="person-heading">Open {userId}</h2>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const reason = viewReason.trim();
            setViewing(reason);
            void load(reason);
          }}
        >
          <label>
            Why you are looking (recorded in the audit log)
            <input
              value={viewReason}
              onInput={(e) => setViewReason(e.currentTarget.value)}
              maxLength={1000}
              required
            />
          </label>
          <button type="submit">Open</button>
        </form>
      </section>
    );

  const account = person?.account;
  return (
    <section aria-labelledby="person-heading">
      <h2 id="person-heading">{person?.display_name || userId}</h2>
      <p class="muted" data-testid="person-account">
        {[
          userId,
          account?.email,
          account?.phone,
          enumText(account?.role, "ROLE_"),
          `account ${enumText(account?.status, "ACCOUNT_STATUS_")}`,
          account?.mfa_enabled ? "two-factor on" : "",
          person?.external_id ? `${person.partner_id}:${person.external_id}` : "",
          account?.create_time ? `since ${dateTime(account.create_time)}` : "",
        ]
          .filter(Boolean)
          .join(" · ")}
      </p>
      <Notice message={message} />
      <ErrorLine error={error} />
      {wallet && (
        <WalletFigures wallet={wallet} testId="person-wallet">
          <div>
            <dt>Wallet</dt>
            <dd data-testid="wallet-state">{wallet.frozen ? "frozen" : "open"}</dd>
          </div>
        </WalletFigures>
      )}
      {mayAct && (
        <div class="row">
          <form
            class="row"
            onSubmit={(event) => {
              event.preventDefault();
              void run(`Granted ₹${credit}.`, () =>
                must(
                  api.POST("/v1/wallets/{user_id}:grantCredit", {
                    params: { path },
                    body: {
                      amount: { amount_minor: String(Math.round(Number(credit) * 100)), currency: "INR" },
                      note: "granted from the console",
                      request_id: requestId(),
                    },
                  }),
                ),
              );
            }}
          >
            <label>
              Credit (₹)
              <input type="number" min="1" value={credit} onInput={(e) => setCredit(e.currentTarget.value)} />
            </label>
            <button type="submit">Grant credit</button>
          </form>
          {identity.role === "admin" && (
            <form
              class="row"
              onSubmit={(event) => {
                event.preventDefault();
                // A role change needs a reason (the one given for the staff actions below).
                void run(`Role set to ${enumText(role, "ROLE_")}.`, () =>
                  must(
                    api.POST("/v1/users/{user_id}/role", {
                      params: { path },
                      body: { role, reason: why.trim() },
                    }),
                  ),
                );
              }}
            >
              <label>
                Role
                <select value={role} onChange={(e) => setRole(e.currentTarget.value as typeof role)}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {enumText(r, "ROLE_")}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit" class="secondary">
                Set role
              </button>
            </form>
          )}
        </div>
      )}
      {mayAct && (
        <form class="row" aria-label="Suspension and freeze" onSubmit={(event) => event.preventDefault()}>
          <label>
            Reason (for the audit log)
            <input value={why} onInput={(e) => setWhy(e.currentTarget.value)} maxLength={1000} />
          </label>
          {account?.status === "ACCOUNT_STATUS_SUSPENDED" ? (
            <button
              type="button"
              class="secondary"
              disabled={!why.trim()}
              onClick={withReason("Unsuspended.", (reason) =>
                must(
                  api.POST("/v1/admin/people/{user_id}:unsuspend", { params: { path }, body: { reason } }),
                ),
              )}
            >
              Unsuspend
            </button>
          ) : (
            <button
              type="button"
              disabled={!why.trim()}
              onClick={withReason("Suspended: signed out everywhere, sessions ended.", (reason) =>
                must(api.POST("/v1/admin/people/{user_id}:suspend", { params: { path }, body: { reason } })),
              )}
            >
              Suspend
            </button>
          )}
          {wallet?.frozen ? (
            <button
              type="button"
              class="secondary"
              disabled={!why.trim()}
              onClick={withReason("Wallet unfrozen.", (reason) =>
                must(
                  api.POST("/v1/admin/people/{user_id}/wallet:unfreeze", {
                    params: { path },
                    body: { reason },
                  }),
                ),
              )}
            >
              Unfreeze wallet
            </button>
          ) : (
            <button
              type="button"
              class="secondary"
              disabled={!why.trim()}
              onClick={withReason("Wallet frozen: no spending until unfrozen.", (reason) =>
                must(
                  api.POST("/v1/admin/people/{user_id}/wallet:freeze", {
                    params: { path },
                    body: { reason },
                  }),
                ),
              )}
            >
              Freeze wallet
            </button>
          )}
        </form>
      )}
      {mayAct && (
        <>
          <h3>Sessions</h3>
          {sessions.length === 0 && <p class="muted">None.</p>}
          <ul class="cards">
            {sessions.map((session) => (
              <SessionCard key={session.session_id} session={session} onChange={load} run={run} />
            ))}
          </ul>
          <h3>Ledger</h3>
          <LedgerTable transactions={transactions} />
          <h3>Invoices</h3>
          {invoices.length === 0 && <p class="muted">None.</p>}
          <table hidden={invoices.length === 0}>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Session</th>
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {invoices.map((invoice) => (
                <tr key={invoice.invoice_id}>
                  <td>{dateTime(invoice.created_at)}</td>
                  <td>{invoice.session_id}</td>
                  <td>{money(invoice.total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {identity.role === "admin" && <AuditLog targetUserId={userId} key={message} />}
    </section>
  );
}

/** The audit log (admin): staff actions and refused staff calls, newest first. */
function AuditLog({ targetUserId }: { targetUserId?: string }) {
  const [events, setEvents] = useState<Schemas["parley.auth.v1.AuditEvent"][]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    void must(
      api.GET("/v1/admin/audit-events", {
        params: { query: { page_size: 50, ...(targetUserId ? { target_user_id: targetUserId } : {}) } },
      }),
    )
      .then((data) => setEvents(data.events ?? []))
      .catch((e) => setError(errorText(e)));
  }, [targetUserId]);
  return (
    <section aria-labelledby="audit-heading">
      {targetUserId ? <h3 id="audit-heading">Audit trail</h3> : <h2 id="audit-heading">Audit log</h2>}
      <ErrorLine error={error} />
      {events.length === 0 && !error && <p class="muted">Nothing recorded.</p>}
      {events.length > 0 && (
        <table data-testid="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Whom</th>
              <th scope="col">Outcome</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.event_id}>
                <td>{dateTime(event.create_time)}</td>
                <td>
                  {enumText(event.actor_role, "ROLE_")} {event.actor_user_id?.slice(0, 8)}
                </td>
                <td>{event.action}</td>
                <td>{event.target_user_id?.slice(0, 8)}</td>
                <td>{enumText(event.outcome, "AUDIT_OUTCOME_")}</td>
                <td>{event.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SessionCard({
  session,
  run,
}: {
  session: Session;
  onChange: () => Promise<void>;
  run: (what: string, action: () => Promise<unknown>) => Promise<void>;
}) {
  const [reason, setReason] = useState<(typeof REASONS)[number]>("REFUND_REASON_SERVICE_ISSUE");
  const [amount, setAmount] = useState("");
  const id = session.session_id ?? "";
  const charged = BigInt(session.minutes_charged ?? "0") > 0n;
  return (
    <li class="card" data-testid="staff-session">
      <p>
        <strong>{statusText(session.status)}</strong>
        {session.end_reason && session.end_reason !== "END_REASON_UNSPECIFIED"
          ? ` (${endReason(session.end_reason)})`
          : ""}{" "}
        · {dateTime(session.requested_at)} · {session.minutes_charged} min at {money(session.rate)}
      </p>
      <div class="row">
        <button type="button" class="secondary" onClick={() => go(`chat/${id}`)}>
          Open chat
        </button>
        {session.status === "SESSION_STATUS_ACTIVE" && (
          <button
            type="button"
            onClick={() =>
              void run("Session ended.", () =>
                must(
                  api.POST("/v1/sessions/{session_id}:end", {
                    params: { path: { session_id: id } },
                    body: { reason: "ended from the console" },
                  }),
                ),
              )
            }
          >
            End session
          </button>
        )}
      </div>
      {charged && (
        <form
          class="row"
          onSubmit={(event) => {
            event.preventDefault();
            void run("Refunded.", () =>
              must(
                api.POST("/v1/refunds", {
                  body: {
                    session_id: id,
                    reason,
                    note: "refunded from the console",
                    request_id: requestId(),
                    ...(amount
                      ? {
                          amount: {
                            amount_minor: String(Math.round(Number(amount) * 100)),
                            currency: session.rate?.currency ?? "INR",
                          },
                        }
                      : {}),
                  },
                }),
              ),
            );
          }}
        >
          <label>
            Refund (₹, empty for all)
            <input
              type="number"
              min="0"
              step="0.01"
              value={amount}
              onInput={(e) => setAmount(e.currentTarget.value)}
            />
          </label>
          <label>
            Reason
            <select value={reason} onChange={(e) => setReason(e.currentTarget.value as typeof reason)}>
              {REASONS.map((r) => (
                <option key={r} value={r}>
                  {enumText(r, "REFUND_REASON_")}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="secondary">
            Refund session
          </button>
        </form>
      )}
    </li>
  );
}

/** The sessions active now (the back office's ListLiveSessions), re-read every 5 s. */
function LiveSessions() {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const data = await must(
          api.GET("/v1/admin/sessions:live", { params: { query: { page_size: 100 } } }),
        );
        if (!cancelled) {
          setSessions(data.sessions ?? []);
          setError("");
        }
      } catch (e) {
        if (!cancelled) setError(errorText(e));
      }
    };
    void load();
    const timer = setInterval(() => void load(), 5_000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);
  const names = useNames(sessions.flatMap((s) => [s.user_id, s.expert_id]));
  return (
    <section aria-labelledby="live-heading">
      <h2 id="live-heading">Live sessions</h2>
      <ErrorLine error={error} />
      {sessions.length === 0 && <p class="muted">No session in progress.</p>}
      <ul class="cards">
        {sessions.map((session) => (
          <li key={session.session_id} class="card" data-testid="live-session">
            <p>
              {names[session.user_id ?? ""] || "A user"} with {names[session.expert_id ?? ""] || "an expert"}{" "}
              · {session.minutes_charged} min at {money(session.rate)} · since {dateTime(session.started_at)}
            </p>
            <div class="row">
              <button type="button" class="secondary" onClick={() => go(`chat/${session.session_id}`)}>
                Watch chat
              </button>
              <button type="button" class="secondary" onClick={() => go(`person/${session.user_id}`)}>
                Open user
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Payouts() {
  const [payouts, setPayouts] = useState<Schemas["parley.billing.v1.Payout"][]>([]);
  const [error, setError] = useState("");
  const load = () =>
    must(api.GET("/v1/me/payouts", { params: { query: { page_size: 50 } } }))
      .then((data) => setPayouts(data.payouts ?? []))
      .catch((e) => setError(errorText(e)));
  useEffect(() => {
    void load();
  }, []);
  return (
    <section aria-labelledby="payouts-heading">
      <h2 id="payouts-heading">Payouts</h2>
      <ErrorLine error={error} />
      {payouts.length === 0 && <p class="muted">No payouts.</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Expert</th>
            <th scope="col">Net</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {payouts.map((payout) => (
            <tr key={payout.payout_id}>
              <td>{dateTime(payout.created_at)}</td>
              <td>{payout.expert_user_id}</td>
              <td>{money(payout.net)}</td>
              <td>
                {enumText(payout.status, "PAYOUT_STATUS_")}
                {payout.failure_reason ? ` (${payout.failure_reason})` : ""}
              </td>
              <td>
                {payout.status === "PAYOUT_STATUS_FAILED" && (
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      void must(
                        api.POST("/v1/payouts/{payout_id}:retry", {
                          params: { path: { payout_id: payout.payout_id ?? "" } },
                          body: {},
                        }),
                      )
                        .then(load)
                        .catch((e) => setError(errorText(e)))
                    }
                  >
                    Retry
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The kinds billing records (PaymentFinding.kind in protos/parley/billing/v1/billing.proto). */
const FINDING_KINDS = [
  "duplicate_capture",
  "uncredited_capture",
  "dispute",
  "provider_refund",
  "refund_unknown",
  "reconciled_credited",
  "reconciled_failed",
  "reconciled_expired",
] as const;

type Finding = Schemas["parley.billing.v1.PaymentFinding"];

/**
 * Billing's findings about payments (ListPaymentFindings), newest first, of one kind or all, a
 * page at a time. Only the latest request's answer is shown (a kind chosen meanwhile wins).
 */
function PaymentFindings() {
  const [kind, setKind] = useState("");
  const [findings, setFindings] = useState<Finding[]>([]);
  const [next, setNext] = useState("");
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState("");
  const latest = useRef(0);
  const load = (pageToken: string, before: Finding[]) => {
    const asked = ++latest.current;
    setLoading(true);
    setError("");
    must(
      api.GET("/v1/payments/findings", {
        params: { query: { kind, page_size: 50, page_token: pageToken } },
      }),
    )
      .then((data) => {
        if (asked !== latest.current) return;
        setFindings([...before, ...(data.findings ?? [])]);
        setNext(data.next_page_token ?? "");
      })
      .catch((e) => {
        if (asked !== latest.current) return;
        // A first page that failed shows nothing; an older one can be asked for again.
        setFindings(before);
        setNext(before.length > 0 ? pageToken : "");
        setError(errorText(e));
      })
      .finally(() => {
        if (asked === latest.current) setLoading(false);
      });
  };
  useEffect(() => {
    setFindings([]);
    setNext("");
    load("", []);
  }, [kind]);
  return (
    <section aria-labelledby="findings-heading">
      <h2 id="findings-heading">Payment findings</h2>
      <p class="muted">
        What reconciliation and the providers' webhooks found that needs a person: second captures to refund,
        disputes, refunds made at a provider's dashboard or unknown to it.
      </p>
      <label>
        Kind
        <select value={kind} onChange={(event) => setKind((event.target as HTMLSelectElement).value)}>
          <option value="">every kind</option>
          {FINDING_KINDS.map((k) => (
            <option key={k} value={k}>
              {k.replaceAll("_", " ")}
            </option>
          ))}
        </select>
      </label>
      <ErrorLine error={error} />
      {loading && findings.length === 0 && <p class="muted">Loading…</p>}
      {!loading && !error && findings.length === 0 && <p class="muted">Nothing found.</p>}
      <table data-testid="findings">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Kind</th>
            <th scope="col">Payment</th>
            <th scope="col">At the provider</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {findings.map((finding) => (
            <tr
              key={`${finding.payment_id}:${finding.kind}:${finding.provider_payment_id}:${finding.provider_refund_id}`}
            >
              <td>{dateTime(finding.created_at)}</td>
              <td>{(finding.kind ?? "").replaceAll("_", " ")}</td>
              <td>{finding.payment_id}</td>
              <td>{[finding.provider_payment_id, finding.provider_refund_id].filter(Boolean).join(", ")}</td>
              <td>{money(finding.amount)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && (
        <button type="button" class="secondary" disabled={loading} onClick={() => load(next, findings)}>
          Older findings
        </button>
      )}
    </section>
  );
}
