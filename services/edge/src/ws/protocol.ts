import { type Static, Type as T } from "@sinclair/typebox";

/**
 * The /v1/ws protocol, defined once: these schemas validate the frames clients send, give
 * the TypeScript types of every frame (Static<>), and are the source of the AsyncAPI 3.0
 * document served at /asyncapi.json. JSON text frames, one object each, with a `type`.
 */

const protoRef = (typeName: string) =>
  T.Unsafe<Record<string, unknown>>({ $ref: `#/components/schemas/${typeName}` });

/** Chosen by the client to match replies to requests: echoed on the ack, pong or error it causes. */
const FrameId = T.Union([T.String(), T.Number()], {
  description: "Chosen by the client; echoed on the reply (ack, pong, subscribed or error) to this frame.",
});
const SessionId = T.String({ format: "uuid", description: "The session (UUID)." });
/** Seqs count one session's events: 15 digits is far beyond any, and exact as a JavaScript number. */
const Seq = T.Union(
  [T.String({ pattern: "^[0-9]{1,15}$" }), T.Integer({ minimum: 0, maximum: 999_999_999_999_999 })],
  {
    description: "The highest seq already seen: stored events after it are replayed, then live ones follow.",
    examples: ["42"],
  },
);

export const CLIENT_FRAMES = {
  auth: T.Object(
    {
      type: T.Literal("auth"),
      id: T.Optional(FrameId),
      token: T.String({ minLength: 1, description: "An access token of a person." }),
    },
    {
      additionalProperties: false,
      description:
        "First frame, within 10 s; again before the token expires to extend the connection (the same person's token only).",
    },
  ),
  subscribe: T.Object(
    {
      type: T.Literal("subscribe"),
      id: T.Optional(FrameId),
      session_id: SessionId,
      after_seq: T.Optional(Seq),
    },
    {
      additionalProperties: false,
      description:
        "Watch a session: `subscribed` once you may see it, then every stored event after `after_seq`, then live ones. You are present in the session while subscribed. At most 50 sessions per connection (`TOO_MANY_SUBSCRIPTIONS`).",
    },
  ),
  unsubscribe: T.Object(
    { type: T.Literal("unsubscribe"), id: T.Optional(FrameId), session_id: SessionId },
    { additionalProperties: false, description: "Stop watching a session (and leave its presence)." },
  ),
  presence: T.Object(
    { type: T.Literal("presence"), id: T.Optional(FrameId) },
    {
      additionalProperties: false,
      description:
        "Heartbeat, every ≤ 30 s: keeps you online and present in the sessions you watch (a side silent for the presence timeout, 90 s by default, counts as gone: metering pauses, then the session ends). Reported upstream at most every 10 s; more often changes nothing.",
    },
  ),
  ping: T.Object(
    { type: T.Literal("ping"), id: T.Optional(FrameId) },
    { additionalProperties: false, description: "Answered with `pong` (same id)." },
  ),
  watch_me: T.Object(
    {
      type: T.Literal("watch_me"),
      id: T.Optional(FrameId),
      after_seq: T.Optional(
        T.Union([T.String({ pattern: "^[0-9]{1,19}$" }), T.Integer({ minimum: 0 })], {
          description:
            "The highest notification seq already seen: stored notifications after it are replayed, then live ones follow.",
          examples: ["7"],
        }),
      ),
    },
    {
      additionalProperties: false,
      description:
        "Your own channel (user.WatchMe): `watching`, then every stored notification after `after_seq` in order, then live ones (a request waiting, accepted, ended, top-up credited, security notices…). Sending it again replaces the previous one.",
    },
  ),
};

/**
 * Frames that are one session RPC made as the signed-in person: the frame carries the RPC's
 * request fields (proto JSON names) beside `type` and `id`, and is answered with `ack`
 * carrying the RPC's response, or `error`.
 */
export const RPC_FRAMES = {
  send_message: { rpc: "SendMessage", description: "Post a chat message (session.SendMessage)." },
  typing: { rpc: "SendTyping", description: "Typing indicator (session.SendTyping); ephemeral." },
  read: { rpc: "MarkRead", description: "Move your delivered/read markers (session.MarkRead)." },
  signal: {
    rpc: "SendSignal",
    description: "Relay a WebRTC offer, answer or ICE candidate (session.SendSignal).",
  },
} as const;

export type RpcFrameType = keyof typeof RPC_FRAMES;

const ErrorEnvelope = T.Object(
  {
    code: T.Integer({ description: "The HTTP status the same error has over HTTP." }),
    status: T.String({ description: "The gRPC status name." }),
    reason: T.String({
      description: "Stable reason to branch on: INVALID_FRAME, UNKNOWN_FRAME, SESSION_NOT_FOUND…",
    }),
    message: T.String(),
    details: T.Object({}, { additionalProperties: true }),
    request_id: T.String({
      description: "The id the edge gave the frame this error answers (in its logs and upstream).",
    }),
  },
  { description: "The same envelope as HTTP errors." },
);

export const SERVER_FRAMES = {
  ready: T.Object(
    {
      type: T.Literal("ready"),
      id: T.Optional(FrameId),
      user_id: T.String({ format: "uuid" }),
      expires_at: T.String({
        format: "date-time",
        description: "When the token expires: send a fresh `auth` before.",
      }),
    },
    { description: "Answers `auth`: the connection is this person's." },
  ),
  subscribed: T.Object(
    { type: T.Literal("subscribed"), id: T.Optional(FrameId), session_id: SessionId },
    { description: "Answers `subscribe`, once the session is known to be yours to see." },
  ),
  event: T.Object(
    { type: T.Literal("event"), session_id: SessionId, event: protoRef("parley.session.v1.SessionEvent") },
    {
      description:
        "One event of a watched session, in seq order without gap or duplicate (ephemeral ones: seq 0). Remember the highest seq to resume.",
    },
  ),
  watching: T.Object(
    { type: T.Literal("watching"), id: T.Optional(FrameId) },
    { description: "Answers `watch_me`: notifications follow." },
  ),
  notification: T.Object(
    { type: T.Literal("notification"), notification: protoRef("parley.user.v1.Notification") },
    {
      description:
        "One notification of your own channel, in seq order without gap or duplicate. Remember the highest seq to resume with `watch_me`.",
    },
  ),
  ack: T.Object(
    {
      type: T.Literal("ack"),
      id: T.Optional(FrameId),
      result: T.Object({}, { additionalProperties: true, description: "The RPC's response message." }),
    },
    { description: "Answers an RPC frame (send_message, typing, read, signal)." },
  ),
  pong: T.Object({ type: T.Literal("pong"), id: T.Optional(FrameId) }, { description: "Answers `ping`." }),
  error: T.Object(
    {
      type: T.Literal("error"),
      id: T.Optional(FrameId),
      session_id: T.Optional(SessionId),
      error: ErrorEnvelope,
      retry_after_seconds: T.Optional(
        T.Integer({
          minimum: 1,
          description:
            "Over a rate limit, or while a service is unavailable: wait this long before sending the frame again (HTTP's Retry-After).",
        }),
      ),
    },
    {
      description:
        "A frame could not be served (its `id`, and `session_id` for a subscription), or a watched stream failed: subscribe (or `watch_me`) again with your last seq.",
    },
  ),
};

export type ClientFrameType = keyof typeof CLIENT_FRAMES;
export type AuthFrame = Static<typeof CLIENT_FRAMES.auth>;
export type SubscribeFrame = Static<typeof CLIENT_FRAMES.subscribe>;
export type WatchMeFrame = Static<typeof CLIENT_FRAMES.watch_me>;
export type UnsubscribeFrame = Static<typeof CLIENT_FRAMES.unsubscribe>;
export type FrameIdValue = Static<typeof FrameId>;
export type ServerFrame = {
  [K in keyof typeof SERVER_FRAMES]: Static<(typeof SERVER_FRAMES)[K]>;
}[keyof typeof SERVER_FRAMES];
export type ErrorFrame = Static<typeof SERVER_FRAMES.error>;

/** Close codes of the protocol, with the reason sent and what a client should do. */
export const CLOSE_CODES = {
  normal: { code: 1000, description: "Closed normally." },
  policy: { code: 1008, description: "More than WS_FRAMES_PER_SECOND frames per second: slow down." },
  tooBig: { code: 1009, description: "A message (all its fragments together) over WS_MAX_FRAME_BYTES." },
  restart: {
    code: 1012,
    description: "The server is restarting: reconnect (elsewhere) and resume from your last seq.",
  },
  unauthenticated: {
    code: 4001,
    description:
      "Not authenticated in time, invalid or expired token, or another person's token: get a fresh token and reconnect.",
  },
  revoked: {
    code: 4003,
    description:
      "The account was suspended or deleted: its tokens no longer work (reason in the close frame: account_suspended, account_deleted). Do not reconnect with them.",
  },
  slowConsumer: {
    code: 4009,
    description: "More than WS_MAX_BUFFERED_BYTES unsent: read faster, reconnect and resume.",
  },
  tooManyConnections: {
    code: 4029,
    description:
      "Over WS_MAX_CONNECTIONS_PER_PERSON connections of one person (or WS_MAX_UNAUTHENTICATED_PER_IP unauthenticated ones from one address) on this server.",
  },
} as const;

export const CLOSE = Object.fromEntries(Object.entries(CLOSE_CODES).map(([k, v]) => [k, v.code])) as {
  [K in keyof typeof CLOSE_CODES]: (typeof CLOSE_CODES)[K]["code"];
};
