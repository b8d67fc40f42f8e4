import { useEffect, useState } from "preact/hooks";
import { api, type Identity, must, type Schemas } from "../api/client";
import { go, live } from "../app";
import { availability, errorText, money } from "../format";
import { useNames } from "../names";
import { ChatRoom } from "./chat";
import { ErrorLine } from "./parts";
import { Tabs } from "./tabs";
import { PastSessions } from "./user";

/** A request notification older than this (replayed from the inbox) raises no alert. */
const RECENT_MS = 120_000;

type QueueEntry = Schemas["parley.session.v1.QueueEntry"];
type Session = Schemas["parley.session.v1.Session"];

export function ExpertDesk({ identity, route }: { identity: Identity; route: string[] }) {
  const [page, id] = route;
  const [alert, setAlert] = useState("");
  const [requests, setRequests] = useState(0);
  // The person's own channel: an incoming request alerts on every page of the desk.
  useEffect(
    () =>
      live.watchMe((notification) => {
        // The stream replays the inbox first: only recent, unread requests still call for attention.
        const recent = Date.now() - Date.parse(notification.created_at ?? "") < RECENT_MS;
        if (notification.kind === "NOTIFICATION_KIND_REQUEST_WAITING" && !notification.read_at && recent)
          setAlert(notification.title || "A new chat request is waiting");
        if (notification.kind?.startsWith("NOTIFICATION_KIND_REQUEST_")) setRequests((n) => n + 1);
      }),
    [identity.userId],
  );
  return (
    <>
      {alert && (
        <div class="alert" role="alert" data-testid="incoming">
          <strong>{alert}</strong>
          <span class="row">
            {page !== undefined && page !== "desk" && (
              <button type="button" class="secondary" onClick={() => go("desk")}>
                Open the queue
              </button>
            )}
            <button type="button" class="link" onClick={() => setAlert("")}>
              Dismiss
            </button>
          </span>
        </div>
      )}
      <Tabs
        current={page ?? "desk"}
        tabs={[
          ["desk", "Desk"],
          ["sessions", "Past sessions"],
        ]}
      />
      {page === "chat" && id ? (
        <ChatRoom key={id} identity={identity} sessionId={id} />
      ) : page === "sessions" ? (
        <PastSessions identity={identity} asExpert />
      ) : (
        <Desk identity={identity} requests={requests} onDecided={() => setAlert("")} />
      )}
    </>
  );
}

/**
 * Online/offline, the incoming-request alert (the `watch_me` channel), the queue with accept
 * and decline, the chats in progress, earnings.
 */
function Desk({
  identity,
  requests,
  onDecided,
}: {
  identity: Identity;
  /** Bumped by each request notification: the queue is re-read. */
  requests: number;
  onDecided: () => void;
}) {
  const me = identity.userId;
  const [state, setState] = useState<string | undefined>();
  const [queue, setQueue] = useState<QueueEntry[]>([]);
  const [activeSessions, setActiveSessions] = useState<Session[]>([]);
  const [earnings, setEarnings] = useState<Schemas["parley.billing.v1.Earnings"] | undefined>();
  const [error, setError] = useState("");

  const load = async () => {
    try {
      const [expert, q, active, e] = await Promise.all([
        must(api.GET("/v1/experts/{expert_id}", { params: { path: { expert_id: me } } })),
        must(api.GET("/v1/experts/{expert_id}/queue", { params: { path: { expert_id: me } } })),
        must(
          api.GET("/v1/sessions", {
            params: { query: { as_expert: true, statuses: ["SESSION_STATUS_ACTIVE"], page_size: 20 } },
          }),
        ),
        must(api.GET("/v1/me/earnings", { params: { query: {} } })),
      ]);
      setState(expert.expert?.availability);
      setQueue(q.entries ?? []);
      setActiveSessions(active.sessions ?? []);
      setEarnings(e.earnings);
    } catch (e) {
      setError(errorText(e));
    }
  };

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [me, requests]);

  const setAvailability = async (
    wanted: "EXPERT_AVAILABILITY_AVAILABLE" | "EXPERT_AVAILABILITY_UNAVAILABLE",
  ) => {
    try {
      await must(api.POST("/v1/me/availability", { body: { availability: wanted } }));
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };

  const decide = async (sessionId: string, accept: boolean) => {
    setError("");
    try {
      const path = { session_id: sessionId };
      if (accept) {
        await must(api.POST("/v1/sessions/{session_id}:accept", { params: { path }, body: {} }));
        onDecided();
        go(`chat/${sessionId}`);
      } else {
        await must(api.POST("/v1/sessions/{session_id}:decline", { params: { path }, body: {} }));
        onDecided();
        await load();
      }
    } catch (e) {
      setError(errorText(e));
    }
  };

  const names = useNames([...queue.map((e) => e.session?.user_id), ...activeSessions.map((s) => s.user_id)]);
  const online = state === "EXPERT_AVAILABILITY_AVAILABLE" || state === "EXPERT_AVAILABILITY_BUSY";
  return (
    <section aria-labelledby="desk-heading">
      <h2 id="desk-heading">Desk</h2>
      <p class="row">
        <span>
          You read as <strong data-testid="availability">{availability(state) || "…"}</strong>
        </span>
        <button
          type="button"
          aria-pressed={online}
          onClick={() =>
            void setAvailability(online ? "EXPERT_AVAILABILITY_UNAVAILABLE" : "EXPERT_AVAILABILITY_AVAILABLE")
          }
        >
          {online ? "Go offline" : "Go online"}
        </button>
      </p>
      <ErrorLine error={error} />
      <h3>Queue</h3>
      {queue.length === 0 && <p class="muted">Nobody is waiting.</p>}
      <ol class="cards" aria-label="Queue">
        {queue.map((entry) => (
          <li key={entry.session?.session_id} class="card" data-testid="queue-entry">
            <p>
              Place {entry.position} · {names[entry.session?.user_id ?? ""] || "a user"} · chat at{" "}
              {money(entry.session?.rate)} per minute
            </p>
            <div class="row">
              <button type="button" onClick={() => void decide(entry.session?.session_id ?? "", true)}>
                Accept
              </button>
              <button
                type="button"
                class="secondary"
                onClick={() => void decide(entry.session?.session_id ?? "", false)}
              >
                Decline
              </button>
            </div>
          </li>
        ))}
      </ol>
      <h3>Chats in progress</h3>
      {activeSessions.length === 0 && <p class="muted">None.</p>}
      <ul class="cards">
        {activeSessions.map((session) => (
          <li key={session.session_id} class="card">
            <p>
              {names[session.user_id ?? ""] || "A user"} · {session.minutes_charged} min at{" "}
              {money(session.rate)}
            </p>
            <button type="button" onClick={() => go(`chat/${session.session_id}`)}>
              Open chat
            </button>
          </li>
        ))}
      </ul>
      <h3>Earnings</h3>
      {earnings && (
        <dl class="figures" data-testid="earnings">
          <div>
            <dt>Earned</dt>
            <dd>{money(earnings.earned)}</dd>
          </div>
          <div>
            <dt>Withdrawable</dt>
            <dd data-testid="earnings-balance">{money(earnings.balance)}</dd>
          </div>
          <div>
            <dt>Refunded</dt>
            <dd>{money(earnings.refunded)}</dd>
          </div>
        </dl>
      )}
    </section>
  );
}
