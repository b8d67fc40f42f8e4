import { useEffect, useState } from "preact/hooks";
import { api, type Identity, must, requestId, type Schemas } from "../api/client";
import { go } from "../app";
import { availability, dateTime, endReason, errorText, money, status as statusText } from "../format";
import { useNames } from "../names";
import { ChatRoom, InvoiceView } from "./chat";
import { ErrorLine } from "./parts";
import { Tabs } from "./tabs";
import { WalletView } from "./wallet";

type Expert = Schemas["parley.user.v1.Expert"];
type Session = Schemas["parley.session.v1.Session"];

const EXPERTS_REFRESH_MS = 5_000;

export function UserHome({ identity, route }: { identity: Identity; route: string[] }) {
  const [page, id] = route;
  return (
    <>
      <Tabs
        current={page ?? "experts"}
        tabs={[
          ["experts", "Experts"],
          ["wallet", "Wallet"],
          ["sessions", "Past sessions"],
        ]}
      />
      {page === "chat" && id ? (
        <ChatRoom key={id} identity={identity} sessionId={id} />
      ) : page === "wallet" ? (
        <WalletView />
      ) : page === "sessions" ? (
        <PastSessions identity={identity} />
      ) : (
        <Experts />
      )}
    </>
  );
}

/** Experts with live availability (re-read every few seconds), filters and rates. */
function Experts() {
  const [experts, setExperts] = useState<Expert[]>([]);
  const [specialisation, setSpecialisation] = useState("");
  const [language, setLanguage] = useState("");
  const [onlineOnly, setOnlineOnly] = useState(false);
  const [maxRate, setMaxRate] = useState("");
  const [sort, setSort] = useState<
    "EXPERT_SORT_RATING_DESC" | "EXPERT_SORT_RATE_ASC" | "EXPERT_SORT_EXPERIENCE_DESC"
  >("EXPERT_SORT_RATING_DESC");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState("");

  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      const query = {
        sort,
        page_size: 50,
        rate_kind: "RATE_KIND_CHAT" as const,
        ...(specialisation.trim() ? { specialisation: specialisation.trim() } : {}),
        ...(language.trim() ? { language: language.trim() } : {}),
        ...(onlineOnly ? { availability: "EXPERT_AVAILABILITY_AVAILABLE" as const } : {}),
        ...(maxRate
          ? { "max_rate.amount_minor": String(Math.round(Number(maxRate) * 100)), "max_rate.currency": "INR" }
          : {}),
      };
      try {
        const data = await must(api.GET("/v1/experts", { params: { query } }));
        if (!cancelled) {
          setExperts(data.experts ?? []);
          setError("");
        }
      } catch (e) {
        if (!cancelled) setError(errorText(e));
      }
    };
    void load();
    const timer = setInterval(() => void load(), EXPERTS_REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [specialisation, language, onlineOnly, maxRate, sort]);

  const request = async (expert: Expert) => {
    setBusy(expert.user_id ?? "");
    setError("");
    try {
      const data = await must(
        api.POST("/v1/sessions", {
          body: { expert_id: expert.user_id ?? "", kind: "SESSION_KIND_CHAT", request_id: requestId() },
        }),
      );
      go(`chat/${data.session?.session_id}`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy("");
    }
  };

  return (
    <section aria-labelledby="experts-heading">
      <h2 id="experts-heading">Experts</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Specialisation
          <input
            value={specialisation}
            onChange={(e) => setSpecialisation(e.currentTarget.value)}
            placeholder="tarot"
          />
        </label>
        <label>
          Language
          <input value={language} onChange={(e) => setLanguage(e.currentTarget.value)} placeholder="en" />
        </label>
        <label>
          Max ₹ per minute
          <input
            type="number"
            min="0"
            step="1"
            inputMode="numeric"
            value={maxRate}
            onChange={(e) => setMaxRate(e.currentTarget.value)}
          />
        </label>
        <label>
          Sort
          <select value={sort} onChange={(e) => setSort(e.currentTarget.value as typeof sort)}>
            <option value="EXPERT_SORT_RATING_DESC">Best rated</option>
            <option value="EXPERT_SORT_RATE_ASC">Lowest rate</option>
            <option value="EXPERT_SORT_EXPERIENCE_DESC">Most experienced</option>
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={onlineOnly}
            onChange={(e) => setOnlineOnly(e.currentTarget.checked)}
          />
          Online only
        </label>
      </form>
      <ErrorLine error={error} />
      <ul class="cards" aria-label="Experts">
        {experts.map((expert) => {
          const online = expert.availability === "EXPERT_AVAILABILITY_AVAILABLE";
          return (
            <li key={expert.user_id} class="card" data-testid="expert">
              <div class="card-head">
                <h3>{expert.display_name}</h3>
                <span class={`badge ${online ? "on" : "off"}`}>{availability(expert.availability)}</span>
              </div>
              <p class="rate">
                <strong>{money(expert.chat_rate)}</strong> per minute chat · {money(expert.call_rate)} call
              </p>
              <p class="muted">
                {(expert.specialisations ?? []).join(", ")} · {(expert.languages ?? []).join(", ")} ·{" "}
                {expert.experience_years} years
                {expert.rating_count
                  ? ` · ★ ${expert.rating_average?.toFixed(1)} (${expert.rating_count})`
                  : ""}
              </p>
              {expert.bio && <p>{expert.bio}</p>}
              <button
                type="button"
                disabled={!online || busy !== ""}
                onClick={() => void request(expert)}
                aria-label={`Request chat with ${expert.display_name}`}
              >
                Request chat
              </button>
            </li>
          );
        })}
      </ul>
      {experts.length === 0 && !error && <p class="muted">No expert matches these filters.</p>}
    </section>
  );
}

/** The person's sessions, newest first, each with its invoice. */
export function PastSessions({ identity, asExpert = false }: { identity: Identity; asExpert?: boolean }) {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [open, setOpen] = useState<string | undefined>();
  const [invoice, setInvoice] = useState<Schemas["parley.billing.v1.Invoice"] | undefined>();
  const [error, setError] = useState("");
  useEffect(() => {
    void must(api.GET("/v1/sessions", { params: { query: { as_expert: asExpert, page_size: 50 } } }))
      .then((data) => setSessions(data.sessions ?? []))
      .catch((e) => setError(errorText(e)));
  }, [identity.userId, asExpert]);
  const names = useNames(sessions.map((s) => (asExpert ? s.user_id : s.expert_id)));
  const show = async (session: Session) => {
    setOpen(session.session_id);
    setInvoice(undefined);
    if (!session.invoice_id) return;
    const data = await must(
      api.GET("/v1/invoices/{invoice_id}", { params: { path: { invoice_id: session.invoice_id } } }),
    ).catch((e) => {
      setError(errorText(e));
      return undefined;
    });
    setInvoice(data?.invoice);
  };
  return (
    <section aria-labelledby="past-heading">
      <h2 id="past-heading">Past sessions</h2>
      <ErrorLine error={error} />
      {sessions.length === 0 && <p class="muted">No sessions yet.</p>}
      <ul class="cards">
        {sessions.map((session) => (
          <li key={session.session_id} class="card" data-testid="past-session">
            <p>
              <strong>{names[(asExpert ? session.user_id : session.expert_id) ?? ""] || "…"}</strong> ·{" "}
              {statusText(session.status)}
              {session.end_reason && session.end_reason !== "END_REASON_UNSPECIFIED"
                ? ` (${endReason(session.end_reason)})`
                : ""}{" "}
              · {dateTime(session.requested_at)} · {session.minutes_charged} min at {money(session.rate)}
            </p>
            <div class="row">
              <button type="button" class="secondary" onClick={() => go(`chat/${session.session_id}`)}>
                Open chat
              </button>
              {session.invoice_id && (
                <button type="button" class="secondary" onClick={() => void show(session)}>
                  Invoice
                </button>
              )}
            </div>
            {open === session.session_id && invoice && <InvoiceView invoice={invoice} />}
          </li>
        ))}
      </ul>
    </section>
  );
}
