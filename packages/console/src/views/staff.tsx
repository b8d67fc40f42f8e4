import { useEffect, useState } from "preact/hooks";
import { api, type Identity, must, requestId, type Schemas } from "../api/client";
import { go } from "../app";
import { dateTime, endReason, enumText, errorText, money, status as statusText } from "../format";
import { useNames } from "../names";
import { ChatRoom } from "./chat";
import { Tabs } from "./tabs";

type Session = Schemas["parley.session.v1.Session"];
type Expert = Schemas["parley.user.v1.Expert"];
type Profile = Schemas["parley.user.v1.Profile"];

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
 * The back office, through the staff RPCs the API has: people (experts by name, anyone by user
 * id) with their wallet, sessions, invoices, credit, role, session refunds, suspension and audit
 * trail; the live sessions (each expert's active ones); payouts; the audit log.
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
      ) : page === "audit" ? (
        <AuditLog />
      ) : (
        <People />
      )}
    </>
  );
}

async function allExperts(): Promise<Expert[]> {
  const data = await must(api.GET("/v1/experts", { params: { query: { page_size: 100 } } }));
  return data.experts ?? [];
}

function People() {
  const [query, setQuery] = useState("");
  const [experts, setExperts] = useState<Expert[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    void allExperts()
      .then(setExperts)
      .catch((e) => setError(errorText(e)));
  }, []);
  const wanted = query.trim().toLowerCase();
  const shown = experts.filter((e) => !wanted || (e.display_name ?? "").toLowerCase().includes(wanted));
  return (
    <section aria-labelledby="people-heading">
      <h2 id="people-heading">People</h2>
      <form
        class="row"
        onSubmit={(event) => {
          event.preventDefault();
          if (UUID.test(query.trim())) go(`person/${query.trim()}`);
        }}
      >
        <label>
          Name or user id
          <input value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={!UUID.test(query.trim())}>
          Open by user id
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <h3>Experts</h3>
      <ul class="cards" aria-label="Experts">
        {shown.map((expert) => (
          <li key={expert.user_id} class="card">
            <p>
              <strong>{expert.display_name}</strong> · {enumText(expert.availability, "EXPERT_AVAILABILITY_")}{" "}
              · {money(expert.chat_rate)}/min · {expert.active_sessions ?? 0} active
            </p>
            <button type="button" class="secondary" onClick={() => go(`person/${expert.user_id}`)}>
              Open {expert.display_name}
            </button>
          </li>
        ))}
      </ul>
      <p class="muted">
        Anyone else opens by user id (in a session, an invoice or the logs); a search by name or email over
        every account needs the back office's people search.
      </p>
    </section>
  );
}

function Person({ identity, userId }: { identity: Identity; userId: string }) {
  const [profile, setProfile] = useState<Profile | undefined>();
  const [wallet, setWallet] = useState<Schemas["parley.billing.v1.Wallet"] | undefined>();
  const [sessions, setSessions] = useState<Session[]>([]);
  const [invoices, setInvoices] = useState<Schemas["parley.billing.v1.Invoice"][]>([]);
  const [credit, setCredit] = useState("50");
  const [role, setRole] = useState<(typeof ROLES)[number]>("ROLE_USER");
  const [why, setWhy] = useState("");
  const [accountStatus, setAccountStatus] = useState("");
  const [message, setMessage] = useState("");
  const [error, setError] = useState("");

  const load = async () => {
    try {
      const [p, w, s, i] = await Promise.all([
        must(api.GET("/v1/users/{user_id}", { params: { path: { user_id: userId } } })),
        must(api.GET("/v1/me/wallet", { params: { query: { user_id: userId } } })),
        must(api.GET("/v1/sessions", { params: { query: { participant_id: userId, page_size: 50 } } })),
        must(api.GET("/v1/me/invoices", { params: { query: { user_id: userId, page_size: 50 } } })),
      ]);
      setProfile(p.profile);
      setWallet(w.wallet);
      setSessions(s.sessions ?? []);
      setInvoices(i.invoices ?? []);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, [userId]);

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

  return (
    <section aria-labelledby="person-heading">
      <h2 id="person-heading">{profile?.display_name || userId}</h2>
      <p class="muted">
        {userId}
        {profile?.verified ? " · verified" : ""}
        {profile?.created_at ? ` · since ${dateTime(profile.created_at)}` : ""}
      </p>
      {message && (
        <p role="status" class="notice">
          {message}
        </p>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {wallet && (
        <dl class="figures" data-testid="person-wallet">
          <div>
            <dt>Balance</dt>
            <dd>{money(wallet.balance)}</dd>
          </div>
          <div>
            <dt>Held</dt>
            <dd>{money(wallet.held)}</dd>
          </div>
          <div>
            <dt>Available</dt>
            <dd>{money(wallet.available)}</dd>
          </div>
        </dl>
      )}
      <div class="row">
        <form
          class="row"
          onSubmit={(event) => {
            event.preventDefault();
            void run(`Granted ₹${credit}.`, () =>
              must(
                api.POST("/v1/wallets/{user_id}:grantCredit", {
                  params: { path: { user_id: userId } },
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
              void run(`Role set to ${enumText(role, "ROLE_")}.`, () =>
                must(
                  api.POST("/v1/users/{user_id}/role", {
                    params: { path: { user_id: userId } },
                    body: { role },
                  }),
                ),
              );
            }}
          >
            <label>
              New role
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
      {identity.role !== "operator" && identity.role !== "moderator" && (
        <form
          class="row"
          aria-label="Suspension"
          onSubmit={(event) => event.preventDefault()}
          data-testid="suspension"
        >
          <label>
            Reason (for the audit log)
            <input value={why} onInput={(e) => setWhy(e.currentTarget.value)} maxLength={1000} />
          </label>
          <button
            type="button"
            disabled={!why.trim()}
            onClick={() =>
              void run("Suspended: signed out everywhere, sessions ended.", async () => {
                const data = await must(
                  api.POST("/v1/admin/people/{user_id}:suspend", {
                    params: { path: { user_id: userId } },
                    body: { reason: why.trim() },
                  }),
                );
                setAccountStatus(data.account?.status ?? "");
              })
            }
          >
            Suspend
          </button>
          <button
            type="button"
            class="secondary"
            disabled={!why.trim()}
            onClick={() =>
              void run("Unsuspended.", async () => {
                const data = await must(
                  api.POST("/v1/admin/people/{user_id}:unsuspend", {
                    params: { path: { user_id: userId } },
                    body: { reason: why.trim() },
                  }),
                );
                setAccountStatus(data.account?.status ?? "");
              })
            }
          >
            Unsuspend
          </button>
          {accountStatus && (
            <span data-testid="account-status">Account {enumText(accountStatus, "ACCOUNT_STATUS_")}</span>
          )}
        </form>
      )}
      <h3>Sessions</h3>
      {sessions.length === 0 && <p class="muted">None.</p>}
      <ul class="cards">
        {sessions.map((session) => (
          <SessionCard key={session.session_id} session={session} onChange={load} run={run} />
        ))}
      </ul>
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
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
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
                    body: {},
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

/** Every expert's active sessions (the API lists sessions per participant), re-read every 5 s. */
function LiveSessions() {
  const [sessions, setSessions] = useState<Array<Session & { expertName: string }>>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const experts = (await allExperts()).filter((e) => (e.active_sessions ?? 0) > 0);
        const lists = await Promise.all(
          experts.map(async (expert) => {
            const data = await must(
              api.GET("/v1/sessions", {
                params: {
                  query: {
                    participant_id: expert.user_id ?? "",
                    as_expert: true,
                    statuses: ["SESSION_STATUS_ACTIVE"],
                    page_size: 50,
                  },
                },
              }),
            );
            return (data.sessions ?? []).map((s) => ({ ...s, expertName: expert.display_name ?? "" }));
          }),
        );
        if (!cancelled) setSessions(lists.flat());
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
  const names = useNames(sessions.map((s) => s.user_id));
  return (
    <section aria-labelledby="live-heading">
      <h2 id="live-heading">Live sessions</h2>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {sessions.length === 0 && <p class="muted">No session in progress.</p>}
      <ul class="cards">
        {sessions.map((session) => (
          <li key={session.session_id} class="card" data-testid="live-session">
            <p>
              {names[session.user_id ?? ""] || "A user"} with {session.expertName} · {session.minutes_charged}{" "}
              min at {money(session.rate)} · since {dateTime(session.started_at)}
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
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
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
