// The WebSocket protocol of /v1/ws (the edge README and /asyncapi.json): one connection per
// tab, authenticated with the access token (again before it expires), presence heartbeats,
// each watched session resumed after a reconnect from the last stored seq seen (so nothing
// is missed or repeated), and the person's own channel (watch_me) resumed likewise.
import { accessToken, type Schemas, session } from "./client";

type Money = Schemas["parley.common.v1.Money"];
export type Message = Schemas["parley.session.v1.Message"];
export type Session = Schemas["parley.session.v1.Session"];
export type Notification = Schemas["parley.user.v1.Notification"];

/** A SessionEvent in proto3 JSON (one of its kinds set). */
export interface SessionEvent {
  seq: string;
  session_id: string;
  occurred_at?: string;
  message?: Message;
  receipt?: Schemas["parley.session.v1.Receipt"];
  typing?: { user_id: string; typing: boolean };
  status_changed?: { status: string; end_reason: string; session?: Session };
  queue_position?: { position: number; estimated_wait_seconds?: string };
  minute_charged?: { minute: string; amount?: Money; minutes_left: string };
  low_balance?: { minutes_left: string };
  heartbeat?: unknown;
}

export type LiveState = "connecting" | "online" | "offline";
type Frame = Record<string, unknown> & { type: string };
type Pending = { resolve: (frame: Frame) => void; reject: (error: Error) => void };

const PRESENCE_MS = 20_000;
/** Close code of a person whose account was suspended or deleted (the edge's protocol). */
const REVOKED = 4003;
/** The id of our watch_me frames: a failed stream answers an error carrying it. */
const WATCH_ME_ID = "watch_me";

/**
 * Whether a subscription's error is worth subscribing again for: a stream cut or refused for a
 * passing reason (CANCELLED: its session instance stopped; too slow; over a rate limit), not
 * one refused for good (not yours, too many subscriptions).
 */
const retryable = (error: { status?: unknown; reason?: unknown } | undefined) =>
  ["UNAVAILABLE", "CANCELLED", "ABORTED", "INTERNAL", "DEADLINE_EXCEEDED"].includes(String(error?.status)) ||
  (error?.status === "RESOURCE_EXHAUSTED" &&
    ["WATCHER_TOO_SLOW", "RATE_LIMITED"].includes(String(error.reason)));

/**
 * The wait before try `attempt` (0, 1, …) of something that failed: doubling from 250 ms up to
 * 10 s, at least what the edge asked for (`retry_after_seconds`), with jitter, so a thousand
 * tabs told the same thing at once do not all come back at once.
 */
const backoffMs = (attempt: number, retryAfterSeconds?: unknown) =>
  Math.max(
    Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2),
    typeof retryAfterSeconds === "number" ? retryAfterSeconds * 1000 : 0,
  );

export class Live {
  #socket: WebSocket | undefined;
  #state: LiveState = "offline";
  #stopped = false;
  #attempt = 0;
  /** Re-authentications in a row without a token (the refresh could not be made). */
  #authFailures = 0;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  /** Watched sessions: the last stored seq seen, who listens, and failed subscriptions in a row. */
  #sessions = new Map<
    string,
    { lastSeq: bigint; listeners: Set<(event: SessionEvent) => void>; failures: number }
  >();
  #watchMe: { lastSeq: bigint; listeners: Set<(n: Notification) => void>; failures: number } | undefined;
  #stateListeners = new Set<(state: LiveState) => void>();
  #timers: ReturnType<typeof setTimeout>[] = [];

  constructor(private readonly url = `${location.origin.replace(/^http/, "ws")}/v1/ws`) {}

  get state() {
    return this.#state;
  }

  onState(listener: (state: LiveState) => void) {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  start() {
    this.#stopped = false;
    this.#connect();
  }

  /** Signed out: nothing of this person's (their channel's last seq, their sessions) is kept. */
  stop() {
    this.#stopped = true;
    this.#clearTimers();
    this.#socket?.close(1000, "signed out");
    this.#socket = undefined;
    this.#watchMe = undefined;
    this.#sessions.clear();
    for (const pending of this.#pending.values()) pending.reject(new Error("signed out"));
    this.#pending.clear();
    this.#setState("offline");
  }

  /** Drops the connection as a network failure would: the console reconnects and resumes. */
  drop() {
    this.#socket?.close(4000, "dropped by the console");
  }

  /** Watches a session from `afterSeq`; after a reconnect, from the last stored seq seen. */
  watchSession(sessionId: string, listener: (event: SessionEvent) => void, afterSeq = 0n) {
    let entry = this.#sessions.get(sessionId);
    if (!entry) {
      entry = { lastSeq: afterSeq, listeners: new Set(), failures: 0 };
      this.#sessions.set(sessionId, entry);
      if (this.#state === "online") this.#subscribe(sessionId, entry.lastSeq);
    }
    entry.listeners.add(listener);
    return () => {
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0) {
        this.#sessions.delete(sessionId);
        this.#send({ type: "unsubscribe", session_id: sessionId });
      }
    };
  }

  /** The person's own channel: notifications (an expert's incoming requests). */
  watchMe(listener: (notification: Notification) => void) {
    if (!this.#watchMe) {
      this.#watchMe = { lastSeq: 0n, listeners: new Set(), failures: 0 };
      if (this.#state === "online") this.#sendWatchMe();
    }
    this.#watchMe.listeners.add(listener);
    return () => this.#watchMe?.listeners.delete(listener);
  }

  /** Sends a frame that is answered (ack, or error with its id). */
  request(frame: Frame): Promise<Frame> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#state !== "online") {
        reject(new Error("not connected"));
        return;
      }
      this.#pending.set(id, { resolve, reject });
      this.#send({ ...frame, id });
    });
  }

  /** Sends a frame nobody waits on (typing, read receipts). */
  notify(frame: Frame) {
    if (this.#state === "online") this.#send(frame);
  }

  #setState(state: LiveState) {
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state);
  }

  #send(frame: Frame) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(frame));
  }

  /** The person's own channel, from the last notification seen. */
  #sendWatchMe() {
    if (this.#watchMe)
      this.#send({ type: "watch_me", id: WATCH_ME_ID, after_seq: this.#watchMe.lastSeq.toString() });
  }

  #subscribe(sessionId: string, afterSeq: bigint) {
    this.#send({ type: "subscribe", session_id: sessionId, after_seq: afterSeq.toString() });
  }

  #clearTimers() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
  }

  async #authenticate() {
    const token = await accessToken();
    if (!token) {
      // Signed out meanwhile (App stops this), or the refresh could not be made now: again soon.
      if (session.current())
        this.#timers.push(setTimeout(() => void this.#authenticate(), backoffMs(3 + this.#authFailures++)));
      return;
    }
    this.#authFailures = 0;
    this.#send({ type: "auth", token });
    // Again shortly before the token expires (accessToken() refreshes it).
    const expiresAt = session.current()?.expiresAt ?? Date.now() + 600_000;
    this.#timers.push(
      setTimeout(() => void this.#authenticate(), Math.max(5_000, expiresAt - Date.now() - 45_000)),
    );
  }

  #connect() {
    this.#clearTimers();
    this.#setState("connecting");
    const socket = new WebSocket(this.url);
    this.#socket = socket;
    socket.onopen = () => void this.#authenticate();
    socket.onmessage = (message) => {
      if (socket !== this.#socket) return;
      this.#receive(JSON.parse(String(message.data)) as Frame);
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return;
      if (event.code === REVOKED) {
        // Suspended or deleted: the tokens are dead, reconnecting would not help.
        this.stop();
        session.clear(
          `Signed out: ${event.reason === "account_deleted" ? "the account was deleted" : "the account is suspended"}.`,
        );
        return;
      }
      this.#clearTimers();
      for (const pending of this.#pending.values()) pending.reject(new Error("connection closed"));
      this.#pending.clear();
      if (this.#stopped) return;
      this.#setState("connecting");
      this.#timers.push(setTimeout(() => this.#connect(), backoffMs(this.#attempt++)));
    };
  }

  #receive(frame: Frame) {
    if (frame.type === "error" && frame.id === WATCH_ME_ID && this.#watchMe) {
      // The upstream stream failed: ask again (from the last seq seen) after a backoff.
      const delay = backoffMs(this.#watchMe.failures++, frame.retry_after_seconds);
      this.#timers.push(setTimeout(() => this.#sendWatchMe(), delay));
      return;
    }
    const watched = typeof frame.session_id === "string" ? this.#sessions.get(frame.session_id) : undefined;
    if (frame.type === "error" && frame.id === undefined && watched) {
      // A subscription ended by the edge for a passing reason (the session service unreachable,
      // this tab too slow): subscribe again from the last seq seen, after a backoff, for as long
      // as the session is watched here. One refused for good (not yours, too many) is not.
      if (!retryable(frame.error as { status?: unknown; reason?: unknown } | undefined)) return;
      const sessionId = frame.session_id as string;
      const delay = backoffMs(watched.failures++, frame.retry_after_seconds);
      this.#timers.push(
        setTimeout(() => {
          if (this.#sessions.get(sessionId) === watched) this.#subscribe(sessionId, watched.lastSeq);
        }, delay),
      );
      return;
    }

    const id = typeof frame.id === "number" ? frame.id : undefined;
    switch (frame.type) {
      case "ready": {
        if (this.#state === "online") return; // a re-authentication
        this.#attempt = 0;
        this.#setState("online");
        for (const [sessionId, entry] of this.#sessions) this.#subscribe(sessionId, entry.lastSeq);
        if (this.#watchMe) this.#sendWatchMe();
        const beat = () => {
          this.#send({ type: "presence" });
          this.#timers.push(setTimeout(beat, PRESENCE_MS));
        };
        this.#timers.push(setTimeout(beat, PRESENCE_MS));
        return;
      }
      case "event": {
        const event = frame.event as SessionEvent;
        const entry = this.#sessions.get(String(frame.session_id));
        if (!entry) return;
        // The feed works again: the next failure starts its backoff afresh.
        entry.failures = 0;
        const seq = BigInt(event.seq || "0");
        if (seq !== 0n) {
          if (seq <= entry.lastSeq) return; // already seen
          entry.lastSeq = seq;
        }
        for (const listener of entry.listeners) listener(event);
        return;
      }
      case "notification": {
        const notification = frame.notification as Notification;
        if (!this.#watchMe) return;
        this.#watchMe.failures = 0;
        const seq = BigInt(notification.seq ?? "0");
        if (seq <= this.#watchMe.lastSeq) return;
        this.#watchMe.lastSeq = seq;
        for (const listener of this.#watchMe.listeners) listener(notification);
        return;
      }
      case "ack":
      case "error": {
        if (id !== undefined && this.#pending.has(id)) {
          const pending = this.#pending.get(id)!;
          this.#pending.delete(id);
          if (frame.type === "ack") pending.resolve(frame);
          else {
            const error = frame.error as { message?: string } | undefined;
            pending.reject(new Error(error?.message ?? "refused"));
          }
        }
        return;
      }
      default:
        return;
    }
  }
}
