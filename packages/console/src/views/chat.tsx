import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Identity, must, requestId, type Schemas } from "../api/client";
import type { Message, Session, SessionEvent } from "../api/live";
import { live } from "../app";
import { endReason, errorText, money, status as statusText, time } from "../format";
import { ErrorLine } from "./parts";

type Wallet = Schemas["parley.billing.v1.Wallet"];
type Invoice = Schemas["parley.billing.v1.Invoice"];

/** A line of the room's log: a message, or what the platform did (a minute charged, the end). */
type Line = { kind: "message"; message: Message } | { kind: "note"; key: string; text: string };

const TYPING_SHOWN_MS = 4_000;
const TYPING_SENT_EVERY_MS = 2_500;

/**
 * The chat room, the same for both sides: the session's events from its start (replayed, then
 * live; resumed after a reconnect from the last seq seen), messages both ways with delivered and
 * read receipts, typing, and for the user the wallet after every charged minute, the
 * low-balance warning, the end and its invoice, and the review.
 */
export function ChatRoom({ identity, sessionId }: { identity: Identity; sessionId: string }) {
  const me = identity.userId;
  const [session, setSession] = useState<Session | undefined>();
  const [otherName, setOtherName] = useState("");
  const [lines, setLines] = useState<Line[]>([]);
  const [receipt, setReceipt] = useState({ delivered: 0n, read: 0n });
  const [typingUntil, setTypingUntil] = useState(0);
  const [lowBalance, setLowBalance] = useState<string | undefined>();
  /** Minutes the balance still pays at this session's rate, as metering last said. */
  const [minutesLeft, setMinutesLeft] = useState<string | undefined>();
  const [wallet, setWallet] = useState<Wallet | undefined>();
  const [invoice, setInvoice] = useState<Invoice | undefined>();
  const [draft, setDraft] = useState("");
  const [error, setError] = useState("");
  const [, tick] = useState(0);
  const lastTypingSent = useRef(0);
  const lastReadSent = useRef(0n);
  const logEnd = useRef<HTMLDivElement>(null);
  const isUser = session ? session.user_id === me : identity.role !== "expert";

  const rate = useRef<string | undefined>(undefined);
  const walletReads = useRef(0);
  const refreshWallet = async (rateMinor?: string) => {
    if (!isUser) return;
    if (rateMinor) rate.current = rateMinor;
    const query = rate.current ? { rate_minor: rate.current } : {};
    const read = ++walletReads.current;
    const { data } = await api.GET("/v1/me/wallet", { params: { query } });
    // Only the latest read shows: an older answer arriving late never puts money back on screen.
    if (data?.wallet && read === walletReads.current) setWallet(data.wallet);
  };

  const loadSession = async () => {
    const data = await must(
      api.GET("/v1/sessions/{session_id}", { params: { path: { session_id: sessionId } } }),
    );
    setSession(data.session);
    return data.session;
  };

  // The session, the other person's name, the wallet.
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      try {
        const loaded = await loadSession();
        if (cancelled || !loaded) return;
        const other = loaded.user_id === me ? loaded.expert_id : loaded.user_id;
        const { data } = await api.GET("/v1/users/{user_id}", { params: { path: { user_id: other ?? "" } } });
        if (!cancelled)
          setOtherName(data?.profile?.display_name || (loaded.user_id === me ? "Expert" : "User"));
        if (loaded.user_id === me) await refreshWallet(loaded.rate?.amount_minor);
      } catch (e) {
        setError(errorText(e));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [sessionId]);

  // The session's events: replayed from the start, then live.
  useEffect(() => {
    setLines([]);
    const stop = live.watchSession(sessionId, (event: SessionEvent) => {
      if (event.message) {
        const message = event.message;
        setLines((lines) =>
          lines.some((l) => l.kind === "message" && l.message.message_id === message.message_id)
            ? lines
            : [...lines, { kind: "message", message }],
        );
        setTypingUntil(0);
      } else if (event.receipt && event.receipt.user_id !== me) {
        const r = event.receipt;
        setReceipt((old) => ({
          delivered: maxBig(old.delivered, BigInt(r.delivered_seq ?? "0")),
          read: maxBig(old.read, BigInt(r.read_seq ?? "0")),
        }));
      } else if (event.typing && event.typing.user_id !== me) {
        setTypingUntil(event.typing.typing ? Date.now() + TYPING_SHOWN_MS : 0);
      } else if (event.minute_charged) {
        const charged = event.minute_charged;
        setLines((lines) => [
          ...lines,
          {
            kind: "note",
            key: `minute-${charged.minute}`,
            text: `Minute ${charged.minute} charged ${money(charged.amount)}`,
          },
        ]);
        setSession((s) => (s ? { ...s, minutes_charged: charged.minute } : s));
        setMinutesLeft(charged.minutes_left);
        void refreshWallet();
      } else if (event.low_balance) {
        setLowBalance(event.low_balance.minutes_left);
        setMinutesLeft(event.low_balance.minutes_left);
      } else if (event.status_changed) {
        const changed = event.status_changed;
        if (changed.session) setSession(changed.session);
        else setSession((s) => (s ? { ...s, status: changed.status as Session["status"] } : s));
        if (changed.status !== "SESSION_STATUS_REQUESTED" && changed.status !== "SESSION_STATUS_WAITING")
          setLines((lines) => [
            ...lines,
            {
              kind: "note",
              key: `status-${event.seq}`,
              text:
                changed.status === "SESSION_STATUS_ENDED"
                  ? `Session ended: ${endReason(changed.end_reason)}`
                  : `Session ${statusText(changed.status)}`,
            },
          ]);
        void refreshWallet(changed.session?.rate?.amount_minor);
      } else if (event.queue_position) {
        const position = event.queue_position.position;
        setSession((s) => (s ? { ...s, queue_position: position } : s));
      }
    });
    return stop;
  }, [sessionId]);

  // Read receipts: everything the other person said is read while the room is open.
  useEffect(() => {
    const theirs = lines.filter((l) => l.kind === "message" && l.message.sender_id !== me);
    const last = theirs.at(-1);
    if (last?.kind !== "message") return;
    const seq = BigInt(last.message.seq ?? "0");
    if (seq > lastReadSent.current && document.visibilityState === "visible") {
      lastReadSent.current = seq;
      live.notify({ type: "read", session_id: sessionId, delivered_seq: String(seq), read_seq: String(seq) });
    }
    logEnd.current?.scrollIntoView({ block: "end" });
  }, [lines]);

  // Typing shows for a few seconds after the last "typing" event.
  useEffect(() => {
    if (typingUntil === 0) return;
    const timer = setTimeout(() => tick((n) => n + 1), Math.max(0, typingUntil - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [typingUntil]);

  // The invoice, once the session has ended and billing has written it.
  useEffect(() => {
    if (session?.status !== "SESSION_STATUS_ENDED" || invoice) return;
    let cancelled = false;
    const fetchInvoice = async (attempt: number) => {
      const current = session.invoice_id ? session : await loadSession().catch(() => undefined);
      if (cancelled) return;
      if (current?.invoice_id) {
        const { data } = await api.GET("/v1/invoices/{invoice_id}", {
          params: { path: { invoice_id: current.invoice_id } },
        });
        if (!cancelled && data?.invoice) setInvoice(data.invoice);
      } else if (attempt < 20) setTimeout(() => void fetchInvoice(attempt + 1), 500);
    };
    void fetchInvoice(0);
    return () => {
      cancelled = true;
    };
  }, [session?.status, session?.invoice_id]);

  const active = session?.status === "SESSION_STATUS_ACTIVE";
  const waiting =
    session?.status === "SESSION_STATUS_REQUESTED" || session?.status === "SESSION_STATUS_WAITING";
  const ended = !!session && !active && !waiting;

  const send = async () => {
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    setError("");
    try {
      await live.request({
        type: "send_message",
        session_id: sessionId,
        kind: "MESSAGE_KIND_TEXT",
        text,
        client_msg_id: requestId(),
      });
      live.notify({ type: "typing", session_id: sessionId, typing: false });
      lastTypingSent.current = 0;
    } catch (e) {
      setDraft(text);
      setError(`Not sent: ${errorText(e)}`);
    }
  };

  const typed = (value: string) => {
    setDraft(value);
    if (Date.now() - lastTypingSent.current > TYPING_SENT_EVERY_MS) {
      lastTypingSent.current = Date.now();
      live.notify({ type: "typing", session_id: sessionId, typing: true });
    }
  };

  const act = async (action: "end" | "cancel") => {
    try {
      const path = { session_id: sessionId };
      const data =
        action === "end"
          ? await must(api.POST("/v1/sessions/{session_id}:end", { params: { path }, body: {} }))
          : await must(api.POST("/v1/sessions/{session_id}:cancel", { params: { path }, body: {} }));
      if (data.session) setSession(data.session);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const receiptText = (message: Message) => {
    const seq = BigInt(message.seq ?? "0");
    if (seq <= receipt.read) return "Read";
    if (seq <= receipt.delivered) return "Delivered";
    return "Sent";
  };

  return (
    <section class="chat" aria-labelledby="chat-heading">
      <div class="chat-head">
        <h2 id="chat-heading">Chat with {otherName || "…"}</h2>
        <p class="session-status" data-testid="session-status">
          {session ? statusText(session.status) : "loading"}
          {session?.rate && ` · ${money(session.rate)} per minute`}
          {session && ` · ${session.minutes_charged ?? "0"} min charged`}
        </p>
        {isUser && wallet && (
          <p class="wallet-line" role="status" aria-label="Wallet" data-testid="chat-wallet">
            Balance <strong data-testid="chat-balance">{money(wallet.balance)}</strong> · available{" "}
            {money(wallet.available)}
            {wallet.held?.amount_minor !== "0" && <> · held {money(wallet.held)}</>} ·{" "}
            <span data-testid="chat-minutes-left">
              {plural(minutesLeft ?? paysFor(wallet, session), "minute")} left
            </span>
          </p>
        )}
        {isUser && wallet?.frozen && (
          <p class="warning" role="alert">
            Your wallet is frozen by staff: no minute can be paid until it is unfrozen.
          </p>
        )}
        {waiting && (
          <p class="notice" role="status">
            Waiting for {otherName || "the expert"} to accept
            {session?.queue_position ? ` (place ${session.queue_position} in the queue)` : ""}.
            {isUser && wallet?.held && wallet.held.amount_minor !== "0" && (
              <> {money(wallet.held)} is held on your wallet until the chat starts or the request ends.</>
            )}
          </p>
        )}
        {isUser && lowBalance !== undefined && active && (
          <p class="warning" role="alert" data-testid="low-balance">
            Low balance: {plural(lowBalance, "minute")} left. <a href="#/wallet">Top up</a> to keep chatting
            (the chat goes on meanwhile; come back to it from Past sessions).
          </p>
        )}
        {ended && (
          <p class="notice" role="status" data-testid="ended">
            Session {statusText(session?.status)}
            {session?.end_reason && session.end_reason !== "END_REASON_UNSPECIFIED"
              ? `: ${endReason(session.end_reason)}`
              : ""}
            .
          </p>
        )}
        <div class="row">
          {active && (
            <button type="button" class="secondary" onClick={() => void act("end")}>
              End chat
            </button>
          )}
          {waiting && isUser && (
            <button type="button" class="secondary" onClick={() => void act("cancel")}>
              Cancel request
            </button>
          )}
          <button
            type="button"
            class="link"
            onClick={() => live.drop()}
            title="Drop the connection and resume"
          >
            Reconnect
          </button>
        </div>
      </div>

      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a long chat scrolls, and a keyboard must reach what scrolled out of view (WCAG 2.1.1; axe's scrollable-region-focusable) */}
      <div class="log" role="log" aria-label="Messages" aria-live="polite" tabIndex={0}>
        {lines.map((line) =>
          line.kind === "note" ? (
            <div key={line.key} class="note">
              {line.text}
            </div>
          ) : (
            <div
              key={line.message.message_id}
              class={line.message.sender_id === me ? "mine" : "theirs"}
              data-testid="message"
            >
              <span class="sender">{line.message.sender_id === me ? "You" : otherName}</span>
              <span class="text">{line.message.text}</span>
              <span class="meta">
                {time(line.message.sent_at)}
                {line.message.sender_id === me && (
                  <span class="receipt" data-testid="receipt">
                    {" "}
                    · {receiptText(line.message)}
                  </span>
                )}
              </span>
            </div>
          ),
        )}
        <div ref={logEnd} />
      </div>
      <p class="typing" aria-live="polite">
        {typingUntil > Date.now() ? `${otherName || "They"} is typing…` : ""}
      </p>

      {active && (
        <form
          class="composer"
          onSubmit={(event) => {
            event.preventDefault();
            void send();
          }}
        >
          <label for="composer-text" class="visually-hidden">
            Message
          </label>
          <input
            id="composer-text"
            value={draft}
            onInput={(e) => typed(e.currentTarget.value)}
            placeholder="Write a message"
            autoComplete="off"
            maxLength={4000}
          />
          <button type="submit">Send</button>
        </form>
      )}
      <ErrorLine error={error} />

      {ended && invoice && <InvoiceView invoice={invoice} />}
      {ended && isUser && session?.status === "SESSION_STATUS_ENDED" && <ReviewForm sessionId={sessionId} />}
    </section>
  );
}

export function InvoiceView({ invoice }: { invoice: Invoice }) {
  return (
    <section class="invoice" aria-label="Invoice" data-testid="invoice">
      <h3>Invoice</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Item</th>
            <th scope="col">Qty</th>
            <th scope="col">Price</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {(invoice.lines ?? []).map((line, index) => (
            <tr key={index}>
              <td>{line.description}</td>
              <td>{line.quantity}</td>
              <td>{money(line.unit_price)}</td>
              <td>{money(line.amount)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td data-testid="invoice-total">{money(invoice.total)}</td>
          </tr>
        </tfoot>
      </table>
    </section>
  );
}

function ReviewForm({ sessionId }: { sessionId: string }) {
  const [rating, setRating] = useState(5);
  const [text, setText] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState("");
  if (done)
    return (
      <p role="status" class="notice">
        Thank you for your review.
      </p>
    );
  return (
    <form
      class="review"
      onSubmit={(event) => {
        event.preventDefault();
        void must(
          api.POST("/v1/sessions/{session_id}/reviews", {
            params: { path: { session_id: sessionId } },
            body: { rating, text },
          }),
        )
          .then(() => setDone(true))
          .catch((e) => setError(errorText(e)));
      }}
    >
      <h3>Leave a review</h3>
      <label>
        Rating
        <select value={rating} onChange={(e) => setRating(Number(e.currentTarget.value))}>
          {[5, 4, 3, 2, 1].map((n) => (
            <option key={n} value={n}>
              {"★".repeat(n)} ({n})
            </option>
          ))}
        </select>
      </label>
      <label>
        Review
        <textarea value={text} onInput={(e) => setText(e.currentTarget.value)} rows={2} maxLength={2000} />
      </label>
      <button type="submit">Submit review</button>
      <ErrorLine error={error} />
    </form>
  );
}

const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);

/**
 * Before metering says, the minutes the balance pays at the session's rate (the session's own
 * hold is part of that balance, so the wallet's minutes_left, which leaves holds out, would
 * understate it).
 */
function paysFor(wallet: Wallet, session: Session | undefined): string {
  const rate = BigInt(session?.rate?.amount_minor ?? "0");
  if (rate <= 0n) return wallet.minutes_left ?? "0";
  return (BigInt(wallet.balance?.amount_minor ?? "0") / rate).toString();
}

const plural = (count: string, word: string) => `${count} ${word}${count === "1" ? "" : "s"}`;
