import type { DescMessage, DescMethod, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { addressKey } from "@parley/kit/addresses";
import type { TokenVerifier } from "@parley/kit/auth";
import type { Bus } from "@parley/kit/bus";
import { invalidArgument, resourceExhausted } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import { SpanKind, tracingEnabled, withSpan } from "@parley/kit/tracing";
import type { ErrorObject, ValidateFunction } from "ajv";
import { decodeJwt } from "jose";
import type { WebSocket } from "ws";
import type { Catalogue } from "../http/catalogue";
import { fieldPath, toHttpError } from "../http/errors";
import { personRateKey, RATE_WINDOW_MS, type RateStore, rateLimited, routeLimit } from "../http/rate-counter";
import { type SchemaBuilder, schemaBuilder } from "../http/schemas";
import { encodeJson } from "../http/transcode";
import { createAjv } from "../http/validation";
import { upstreamMetadata } from "../metadata";
import type { UpstreamName, Upstreams } from "../upstreams";
import { createSessionFeeds, type FeedMember } from "./feeds";
import {
  CLIENT_FRAMES,
  CLOSE,
  type ErrorFrame,
  type FrameIdValue,
  RPC_FRAMES,
  type RpcFrameType,
  type ServerFrame,
  type SubscribeFrame,
  type WatchMeFrame,
} from "./protocol";

export { CLOSE } from "./protocol";

const AUTH_TIMEOUT_MS = 10_000;
/** Liveness: a connection that answers no ping for this long is dead (a phone that lost signal). */
const PING_INTERVAL_MS = 30_000;
/** Timers of every connection (auth deadline, token expiry, liveness) are checked this often. */
const SWEEP_MS = 250;
/** At shutdown, how long clients get to close before they are cut and reported offline. */
const SHUTDOWN_GRACE_MS = 1_000;
const WATCH_ME_PATH = "/parley.user.v1.UserService/WatchMe";
/**
 * A connection's `presence` heartbeats are reported upstream at most this often: each report is
 * a call to user and one per watched session to session (which locks the session's row), and
 * heartbeats every ≤ 30 s are all presence needs.
 */
const PRESENCE_REPORT_EVERY_MS = 10_000;
/** Sessions one connection watches at once: each is an upstream stream, replayed when it opens. */
export const MAX_SUBSCRIPTIONS = 50;

export interface SocketDeps {
  catalogue: Catalogue;
  upstreams: Upstreams;
  verifier: TokenVerifier;
  /** The edge's own service token (presence reports). */
  credentials: () => Promise<string>;
  log: Logger;
  deadlineMs: number;
  framesPerSecond: number;
  maxBufferedBytes: number;
  /** Open connections one person may hold on this instance. */
  maxConnectionsPerPerson: number;
  /** Connections not yet authenticated one address may hold on this instance. */
  maxUnauthenticatedPerIp: number;
  /** Stored events each session feed keeps in memory for sockets joining a little behind. */
  feedMemoryEvents: number;
  /**
   * The bus between edge instances (Redis pub/sub), and the topic presence hand-offs travel on:
   * when a person's last connection to one instance closes, the others that still hold them
   * report them present again at once. Without it (one instance) heartbeats are all there is.
   */
  presenceBus?: { bus: Bus; topic: string };
  /**
   * The HTTP routes' request counters (rate-counter.ts) and limits: a frame that is an RPC
   * counts against that RPC's route, for the same person, as a request to it would.
   */
  rates: { store: RateStore; perMinute: number; routes: Record<string, number> };
}

interface Rpc {
  upstream: UpstreamName;
  method: DescMethod;
  path: string;
}

/** One session a connection watches. */
interface Subscription extends FeedMember {
  /** Set once authorised and joined to the feed. */
  joined: boolean;
}

/** Everything the edge keeps about one connection: plain fields, no closures of its own. */
class Connection {
  userId: string | undefined;
  /** The login session its token belongs to (its `sid`), while authenticated. */
  loginSessionId = "";
  token = "";
  issuedAtMs = 0;
  expiresAtMs = 0;
  subscriptions: Map<string, Subscription> | undefined;
  /** The person's own channel (user.WatchMe), while watched. */
  me: ClientReadableStream<Buffer> | undefined;
  /** Sessions this connection has reported the person present in. */
  online: Set<string> | undefined;
  /** When a `presence` heartbeat of this connection was last reported upstream. */
  presenceReportedAt = 0;
  frameTokens: number;
  refilledAt: number;
  alive = true;
  lastPingAt: number;
  closed = false;
  constructor(
    readonly socket: WebSocket,
    readonly ip: string,
    readonly connectedAt: number,
    burst: number,
  ) {
    this.frameTokens = burst;
    this.refilledAt = connectedAt;
    this.lastPingAt = connectedAt;
  }
}

/** A frame refused by the protocol (before any service was asked). */
const frameError = (reason: "INVALID_FRAME" | "UNKNOWN_FRAME", message: string, field?: string) =>
  invalidArgument(
    reason,
    message,
    field ? { fieldViolations: [{ field, description: message }] } : undefined,
  );

const violation = (error: ErrorObject | undefined): { field: string; message: string } => {
  if (!error) return { field: "", message: "invalid frame" };
  const base = fieldPath(error.instancePath);
  if (error.keyword === "required") {
    const field = [base, error.params.missingProperty].filter(Boolean).join(".");
    return { field, message: `${field} is required` };
  }
  if (error.keyword === "additionalProperties") {
    const field = [base, error.params.additionalProperty].filter(Boolean).join(".");
    return { field, message: `${field} is not a field of this frame` };
  }
  return { field: base, message: `${base || "frame"} ${error.message ?? "is invalid"}` };
};

/**
 * The /v1/ws protocol (see protocol.ts): authentication, per-person and per-address
 * connection caps, frame rate and size limits, session subscriptions over shared feeds
 * (feeds.ts), frames that are session RPCs, presence, liveness and the 1012 drain.
 */
export function createSocketHub(deps: SocketDeps) {
  const { registry } = deps.catalogue;
  const builder: SchemaBuilder = schemaBuilder(deps.catalogue);
  const method = (service: string, name: string, upstream: UpstreamName): Rpc => {
    const found = registry.getService(service)!.methods.find((m) => m.name === name)!;
    return { upstream, method: found, path: `/${service}/${name}` };
  };
  const SESSION = "parley.session.v1.SessionService";
  const getSession = method(SESSION, "GetSession", "session");
  const sessionPresence = method(SESSION, "ReportPresence", "session");
  const userPresence = method("parley.user.v1.UserService", "ReportPresence", "user");
  const rpcFrames = Object.fromEntries(
    Object.entries(RPC_FRAMES).map(([type, spec]) => [type, method(SESSION, spec.rpc, "session")]),
  ) as Record<RpcFrameType, Rpc>;

  // Each RPC frame's share of its HTTP route's counter (the store child @fastify/rate-limit
  // makes for that route) and the route's limit; a subscribe is a GetSession (and may replay a
  // session's history), a watch_me a WatchMe (with its replay), counted like any request.
  const countedFrames: Array<[string, Rpc]> = [
    ...Object.entries(rpcFrames),
    ["subscribe", getSession],
    ["watch_me", method("parley.user.v1.UserService", "WatchMe", "user")],
  ];
  const frameLimits = new Map(
    countedFrames.map(([type, rpc]) => {
      const route = deps.catalogue.rpcs.find((r) => r.grpcPath === rpc.path);
      const { rates } = deps;
      return [
        type,
        route
          ? {
              store: rates.store.child({ routeInfo: { method: route.verb, url: route.url } }),
              max: routeLimit(route, rates),
            }
          : { store: rates.store, max: rates.perMinute },
      ] as const;
    }),
  );
  /** Counts the frame as a request to its route; over the limit, RESOURCE_EXHAUSTED RATE_LIMITED. */
  const countFrame = async (type: string, userId: string) => {
    const limit = frameLimits.get(type)!;
    const { current, ttl } = await new Promise<{ current: number; ttl: number }>((resolve, reject) =>
      limit.store.incr(
        personRateKey(userId),
        (error, result) => (error ? reject(error) : resolve(result)),
        RATE_WINDOW_MS,
        limit.max,
      ),
    );
    if (current > limit.max) throw rateLimited(limit.max, ttl);
  };

  const ajv = createAjv({ coerceTypes: false });
  const validators = new Map<string, ValidateFunction>();
  for (const [type, schema] of Object.entries(CLIENT_FRAMES)) validators.set(type, ajv.compile(schema));
  for (const [type, rpc] of Object.entries(rpcFrames)) {
    const request = builder.message(rpc.method.input, { kind: "validate" });
    validators.set(
      type,
      ajv.compile({
        ...request,
        properties: {
          type: { const: type },
          id: CLIENT_FRAMES.ping.properties.id,
          ...(request.properties as object),
        },
        required: ["type", ...((request.required as string[] | undefined) ?? [])],
      }),
    );
  }

  const decode = (rpc: Rpc, bytes: Uint8Array) =>
    toJson(rpc.method.output, fromBinary(rpc.method.output, bytes), {
      registry,
      useProtoFieldName: true,
      alwaysEmitImplicit: true,
    });
  const callUpstream = (rpc: Rpc, json: JsonValue, token: string, clientIp: string, requestId: string) =>
    deps.upstreams.unary(
      rpc.upstream,
      rpc.path,
      encodeJson(rpc.method.input, json, registry),
      upstreamMetadata({ requestId, bearerToken: token, clientIp }),
      deps.deadlineMs,
    );
  // While tracing is on, each frame's call is a trace of its own (a SERVER span for the frame).
  const call: typeof callUpstream = (rpc, json, token, clientIp, requestId) =>
    tracingEnabled()
      ? withSpan(
          `WS ${rpc.path.slice(1)}`,
          {
            kind: SpanKind.SERVER,
            attributes: { "network.protocol.name": "websocket", "parley.request_id": requestId },
          },
          () => callUpstream(rpc, json, token, clientIp, requestId),
        )
      : callUpstream(rpc, json, token, clientIp, requestId);

  const feeds = createSessionFeeds({
    registry,
    upstreams: deps.upstreams,
    log: deps.log,
    ringSize: deps.feedMemoryEvents,
  });
  const connections = new Set<Connection>();
  const reports = new Set<Promise<unknown>>();
  /** Authenticated connections per person (this instance). */
  const perPerson = new Map<string, number>();
  /** Unauthenticated connections per client address (`addressKey`: an IPv6 one by its /64). */
  const unauthenticatedPerIp = new Map<string, number>();
  const count = (map: Map<string, number>, key: string, delta: number) => {
    const next = (map.get(key) ?? 0) + delta;
    if (next > 0) map.set(key, next);
    else map.delete(key);
  };
  /**
   * Connections of this instance that hold a person (key: user id) or a person's session
   * (key: "user/session") online: offline is reported only when the last one lets go, so
   * closing one of two tabs does not sign the person off.
   */
  const holders = new Map<string, number>();
  const hold = (key: string) => {
    count(holders, key, 1);
    return holders.get(key) === 1;
  };
  const letGo = (key: string) => {
    count(holders, key, -1);
    return !holders.has(key);
  };

  const sendText = (conn: Connection, data: string | Buffer) => {
    const { socket } = conn;
    if (socket.readyState !== socket.OPEN) return;
    // A client that does not read is closed, never buffered for without bound.
    if (socket.bufferedAmount > deps.maxBufferedBytes) {
      socket.close(CLOSE.slowConsumer, "slow consumer");
      return;
    }
    socket.send(data, { binary: false });
  };
  const send = (conn: Connection, frame: ServerFrame) => sendText(conn, JSON.stringify(frame));
  const withId = (id: FrameIdValue | undefined) => (id === undefined ? {} : { id });
  const sendError = (
    conn: Connection,
    error: unknown,
    requestId: string,
    extra: { id?: FrameIdValue; session_id?: string } = {},
  ) => {
    const { body, retryAfterSeconds } = toHttpError(error, requestId);
    if (body.error.code >= 500) deps.log.warn({ err: error, requestId }, "websocket frame failed");
    const retry = retryAfterSeconds ? { retry_after_seconds: retryAfterSeconds } : {};
    send(conn, { type: "error", ...extra, error: body.error, ...retry } as ErrorFrame);
  };

  /**
   * Reports to user (the person, when `person` is set) and to session (each of `sessionIds`);
   * resolves once the reports have answered (or failed, which is logged).
   */
  const report = (
    conn: Connection,
    online: boolean,
    options: { person: boolean; sessionIds: string[] },
  ): Promise<void> => {
    const userId = conn.userId!;
    const calls = [
      ...(options.person ? [userPresence] : []).map((rpc) => ({ rpc, json: { user_id: userId, online } })),
      ...options.sessionIds.map((sessionId) => ({
        rpc: sessionPresence,
        json: { user_id: userId, session_id: sessionId, online },
      })),
    ];
    if (calls.length === 0) return Promise.resolve();
    const settled = deps
      .credentials()
      .then((token) =>
        Promise.allSettled(calls.map(({ rpc, json }) => call(rpc, json, token, conn.ip, newId()))),
      )
      .then((results) => {
        for (const r of results)
          if (r.status === "rejected") deps.log.warn({ err: r.reason }, "presence report failed");
      })
      .catch((error: unknown) => deps.log.warn({ err: error }, "presence report failed"));
    reports.add(settled);
    void settled.finally(() => reports.delete(settled));
    return settled;
  };

  /**
   * Presence across edge instances. Each instance counts only its own connections, so when a
   * person's last connection here closes this instance reports them offline, though another
   * instance may still hold them. After that report has answered, this instance says so on the
   * bus (`key`: the user id, or "user/session"), and every other instance that still holds the
   * key reports it online again at once; the clients' heartbeats (every ≤ 30 s) stay the safety
   * net when the bus is down.
   */
  const instanceId = newId();
  const byPerson = new Map<string, Set<Connection>>();
  /** Authenticated connections by the login session of their token (a logout closes them). */
  const byLoginSession = new Map<string, Set<Connection>>();
  const join = (index: Map<string, Set<Connection>>, key: string, conn: Connection) => {
    const members = index.get(key) ?? new Set<Connection>();
    index.set(key, members);
    members.add(conn);
  };
  const leave = (index: Map<string, Set<Connection>>, key: string, conn: Connection) => {
    const members = index.get(key);
    members?.delete(conn);
    if (members?.size === 0) index.delete(key);
  };
  const handOff = (settled: Promise<void>, key: string) => {
    const presence = deps.presenceBus;
    if (!presence) return;
    void settled.then(() =>
      presence.bus.publish(presence.topic, Buffer.from(JSON.stringify({ from: instanceId, key }))),
    );
  };
  const reclaim = (message: Buffer) => {
    let handed: { from?: unknown; key?: unknown };
    try {
      handed = JSON.parse(message.toString("utf8")) as typeof handed;
    } catch {
      return;
    }
    if (handed.from === instanceId || typeof handed.key !== "string" || !holders.has(handed.key)) return;
    const [userId = "", sessionId] = handed.key.split("/");
    for (const conn of byPerson.get(userId) ?? []) {
      if (conn.closed) continue;
      if (sessionId === undefined) void report(conn, true, { person: true, sessionIds: [] });
      else if (conn.online?.has(sessionId))
        void report(conn, true, { person: false, sessionIds: [sessionId] });
      else continue;
      return;
    }
  };
  const unsubscribePresence = deps.presenceBus?.bus.subscribe(deps.presenceBus.topic, reclaim);
  const sessionOnline = (conn: Connection, sessionId: string) => {
    conn.online ??= new Set();
    if (conn.online.has(sessionId)) return;
    conn.online.add(sessionId);
    // Only the first of the person's connections here to join the session reports it, as only
    // the last to leave reports them gone: a thousand tabs on one session are one report.
    if (hold(`${conn.userId}/${sessionId}`))
      void report(conn, true, { person: false, sessionIds: [sessionId] });
  };
  const sessionOffline = (conn: Connection, sessionId: string) => {
    if (!conn.online?.delete(sessionId)) return;
    const key = `${conn.userId}/${sessionId}`;
    if (letGo(key)) handOff(report(conn, false, { person: false, sessionIds: [sessionId] }), key);
  };

  const authenticate = async (conn: Connection, token: string, id: FrameIdValue | undefined) => {
    const principal = await deps.verifier.verify(token);
    if (conn.closed) return;
    if (principal.kind !== "user") {
      conn.socket.close(CLOSE.unauthenticated, "a person's access token is required");
      return;
    }
    // A fresh token extends the connection; it never turns it into somebody else's.
    if (conn.userId && conn.userId !== principal.userId) {
      conn.socket.close(CLOSE.unauthenticated, "a connection belongs to one person");
      return;
    }
    const first = !conn.userId;
    if (first) {
      if ((perPerson.get(principal.userId) ?? 0) >= deps.maxConnectionsPerPerson) {
        conn.socket.close(CLOSE.tooManyConnections, "too many connections");
        return;
      }
      count(perPerson, principal.userId, 1);
      join(byPerson, principal.userId, conn);
      count(unauthenticatedPerIp, addressKey(conn.ip), -1);
      conn.userId = principal.userId;
    }
    if (conn.loginSessionId !== principal.sessionId) {
      leave(byLoginSession, conn.loginSessionId, conn);
      conn.loginSessionId = principal.sessionId;
      if (principal.sessionId) join(byLoginSession, principal.sessionId, conn);
    }
    conn.token = token;
    const claims = decodeJwt(token);
    conn.issuedAtMs = (claims.iat ?? 0) * 1000;
    conn.expiresAtMs = (claims.exp ?? 0) * 1000;
    send(conn, {
      type: "ready",
      ...withId(id),
      user_id: principal.userId,
      expires_at: new Date(conn.expiresAtMs).toISOString(),
    });
    if (first && hold(principal.userId)) void report(conn, true, { person: true, sessionIds: [] });
  };

  const watchMeInput = registry.getMessage("parley.user.v1.WatchMeRequest") as DescMessage;
  const watchMeOutput = registry.getMessage("parley.user.v1.WatchMeResponse") as DescMessage;
  const notificationDesc = registry.getMessage("parley.user.v1.Notification") as DescMessage;

  /**
   * The person's own channel: one upstream WatchMe per connection, as that person, each
   * notification turned into one `notification` frame (heartbeats stay upstream). A new
   * `watch_me` replaces the stream; it ends with the socket.
   */
  /** Ends the connection's WatchMe; cleared first, so its handlers know it was ended here. */
  const stopWatchingMe = (conn: Connection) => {
    const stream = conn.me;
    conn.me = undefined;
    stream?.cancel();
  };

  const watchMe = (conn: Connection, frame: WatchMeFrame, requestId: string) => {
    stopWatchingMe(conn);
    const stream = deps.upstreams.serverStream(
      "user",
      WATCH_ME_PATH,
      encodeJson(watchMeInput, { after_seq: String(frame.after_seq ?? 0) }, registry),
      upstreamMetadata({ requestId, bearerToken: conn.token, clientIp: conn.ip }),
    );
    conn.me = stream;
    send(conn, { type: "watching", ...withId(frame.id) });
    stream.on("data", (bytes: Buffer) => {
      if (conn.me !== stream) return;
      const message = fromBinary(watchMeOutput, bytes) as unknown as { notification?: unknown };
      if (!message.notification) return;
      const json = toJson(notificationDesc, message.notification as never, {
        registry,
        useProtoFieldName: true,
        alwaysEmitImplicit: true,
      });
      sendText(conn, `{"type":"notification","notification":${JSON.stringify(json)}}`);
    });
    // Failed upstream (a CANCELLED too: the user instance stopped past its grace): the client is
    // told, and watches again.
    stream.on("error", (error: unknown) => {
      if (conn.me !== stream) return;
      conn.me = undefined;
      sendError(conn, error, requestId, withId(frame.id));
    });
    stream.on("end", () => {
      if (conn.me === stream) conn.me = undefined;
    });
  };

  const unsubscribe = (conn: Connection, sessionId: string) => {
    const subscription = conn.subscriptions?.get(sessionId);
    if (!subscription) return;
    conn.subscriptions!.delete(sessionId);
    feeds.leave(subscription);
    sessionOffline(conn, sessionId);
  };

  /** Authorises first (the session must be the person's to see), then acknowledges and joins. */
  const subscribe = async (conn: Connection, frame: SubscribeFrame, requestId: string) => {
    const sessionId = frame.session_id;
    const afterSeq = Number(frame.after_seq ?? 0);
    unsubscribe(conn, sessionId);
    if ((conn.subscriptions?.size ?? 0) >= MAX_SUBSCRIPTIONS)
      throw resourceExhausted(
        "TOO_MANY_SUBSCRIPTIONS",
        `a connection watches at most ${MAX_SUBSCRIPTIONS} sessions; unsubscribe from one first`,
      );
    const subscription: Subscription = {
      sessionId,
      lastSeq: afterSeq,
      live: false,
      joined: false,
      credentials: () => ({ token: conn.token, clientIp: conn.ip }),
      send: (data) => sendText(conn, data),
      ended: (error) => {
        if (conn.subscriptions?.get(sessionId) !== subscription) return;
        conn.subscriptions.delete(sessionId);
        sessionOffline(conn, sessionId);
        if (error) sendError(conn, error, requestId, { session_id: sessionId });
      },
    };
    conn.subscriptions ??= new Map();
    conn.subscriptions.set(sessionId, subscription);
    try {
      await call(getSession, { session_id: sessionId }, conn.token, conn.ip, requestId);
    } catch (error) {
      if (conn.subscriptions.get(sessionId) === subscription) conn.subscriptions.delete(sessionId);
      throw error;
    }
    // Unsubscribed, resubscribed or closed meanwhile: this subscription is no longer wanted.
    if (conn.closed || conn.subscriptions.get(sessionId) !== subscription) return;
    send(conn, { type: "subscribed", ...withId(frame.id), session_id: sessionId });
    subscription.joined = true;
    sessionOnline(conn, sessionId);
    feeds.join(subscription, afterSeq);
  };

  const onFrame = async (conn: Connection, frame: JsonObject, requestId: string): Promise<void> => {
    const type = frame.type as string;
    const id = frame.id as FrameIdValue | undefined;
    if (!conn.userId && type !== "auth" && type !== "ping") {
      conn.socket.close(CLOSE.unauthenticated, "authenticate first");
      return;
    }
    const validate = typeof type === "string" ? validators.get(type) : undefined;
    if (!validate) throw frameError("UNKNOWN_FRAME", `unknown frame type ${String(type)}`, "type");
    if (!validate(frame)) {
      const { field, message } = violation(validate.errors?.[0]);
      throw frameError("INVALID_FRAME", message, field);
    }
    if (type === "auth") return authenticate(conn, frame.token as string, id);
    if (type === "ping") return send(conn, { type: "pong", ...withId(id) });
    if (type === "unsubscribe") return unsubscribe(conn, frame.session_id as string);
    if (type === "subscribe") {
      await countFrame(type, conn.userId!);
      return subscribe(conn, frame as unknown as SubscribeFrame, requestId);
    }
    if (type === "watch_me") {
      await countFrame(type, conn.userId!);
      return watchMe(conn, frame as unknown as WatchMeFrame, requestId);
    }
    if (type === "presence") {
      const now = Date.now();
      if (now - conn.presenceReportedAt < PRESENCE_REPORT_EVERY_MS) return;
      conn.presenceReportedAt = now;
      void report(conn, true, { person: true, sessionIds: [...(conn.online ?? [])] });
      return;
    }
    const rpc = rpcFrames[type as RpcFrameType];
    await countFrame(type, conn.userId!);
    const { type: _type, id: _id, ...fields } = frame;
    const result = decode(rpc, await call(rpc, fields, conn.token, conn.ip, requestId));
    send(conn, { type: "ack", ...withId(id), result: result as JsonObject });
  };

  const onMessage = (conn: Connection, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const now = Date.now();
    conn.frameTokens = Math.min(
      deps.framesPerSecond * 2,
      conn.frameTokens + ((now - conn.refilledAt) / 1000) * deps.framesPerSecond,
    );
    conn.refilledAt = now;
    if (conn.frameTokens < 1) {
      conn.socket.close(CLOSE.policy, "rate limit exceeded");
      return;
    }
    conn.frameTokens -= 1;
    // Every frame gets a request id: sent upstream, logged, and on any error frame it causes.
    const requestId = newId();
    let frame: JsonObject;
    try {
      if (isBinary) throw new Error("binary frames are not part of the protocol");
      const parsed = JSON.parse(data.toString()) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
        throw new Error("a frame is a JSON object");
      frame = parsed as JsonObject;
    } catch (error) {
      sendError(conn, frameError("INVALID_FRAME", (error as Error).message), requestId);
      return;
    }
    onFrame(conn, frame, requestId).catch((error: unknown) => {
      const id = frame.id as FrameIdValue | undefined;
      const sessionId =
        frame.type === "subscribe" && typeof frame.session_id === "string" ? frame.session_id : undefined;
      sendError(conn, error, requestId, { ...withId(id), ...(sessionId ? { session_id: sessionId } : {}) });
      if (frame.type === "auth" && !conn.userId) conn.socket.close(CLOSE.unauthenticated, "invalid token");
    });
  };

  const onClose = (conn: Connection) => {
    conn.closed = true;
    connections.delete(conn);
    stopWatchingMe(conn);
    for (const sessionId of [...(conn.subscriptions?.keys() ?? [])]) unsubscribe(conn, sessionId);
    leave(byLoginSession, conn.loginSessionId, conn);
    if (conn.userId) {
      count(perPerson, conn.userId, -1);
      leave(byPerson, conn.userId, conn);
      if (letGo(conn.userId)) handOff(report(conn, false, { person: true, sessionIds: [] }), conn.userId);
    } else count(unauthenticatedPerIp, addressKey(conn.ip), -1);
  };

  /** Auth deadlines, token expiry and liveness pings of every connection, in one timer. */
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const conn of connections) {
      const { socket } = conn;
      if (socket.readyState !== socket.OPEN) continue;
      if (!conn.userId) {
        if (now - conn.connectedAt >= AUTH_TIMEOUT_MS)
          socket.close(CLOSE.unauthenticated, "authenticate first");
        continue;
      }
      // Past expiry without a fresh "auth" frame the connection ends; the client re-auths and resumes.
      if (now >= conn.expiresAtMs) {
        socket.close(CLOSE.unauthenticated, "token expired");
        continue;
      }
      if (now - conn.lastPingAt >= PING_INTERVAL_MS) {
        if (!conn.alive) {
          socket.terminate();
          continue;
        }
        conn.alive = false;
        conn.lastPingAt = now;
        socket.ping();
      }
    }
  }, SWEEP_MS);
  sweep.unref();

  return {
    handle(socket: WebSocket, client: { ip: string }) {
      const conn = new Connection(socket, client.ip, Date.now(), deps.framesPerSecond * 2);
      connections.add(conn);
      socket.on("close", () => onClose(conn));
      if ((unauthenticatedPerIp.get(addressKey(client.ip)) ?? 0) >= deps.maxUnauthenticatedPerIp) {
        // Counted as unauthenticated until closed, so onClose balances the books.
        count(unauthenticatedPerIp, addressKey(client.ip), 1);
        socket.close(CLOSE.tooManyConnections, "too many unauthenticated connections");
        return;
      }
      count(unauthenticatedPerIp, addressKey(client.ip), 1);
      socket.on("message", (data, isBinary) => onMessage(conn, data, isBinary));
      socket.on("pong", () => {
        conn.alive = true;
      });
    },
    /**
     * Closes the connections of a person whose credentials were revoked (suspended, deleted, role
     * changed) that were signed in with a token issued before the revocation — as the revocation
     * list refuses such tokens — 4003 with the reason; their session feeds and own channel go
     * with them. One signed in again since (a token issued after it) stays open.
     */
    closePerson(userId: string, reason: string, revokedAt: Date) {
      for (const conn of byPerson.get(userId) ?? [])
        if (conn.issuedAtMs <= revokedAt.getTime()) conn.socket.close(CLOSE.revoked, reason.slice(0, 120));
    },
    /** Closes the sockets signed in with a login session that ended (a logout, say). */
    closeLoginSession(sessionId: string, reason: string) {
      for (const conn of byLoginSession.get(sessionId) ?? [])
        conn.socket.close(CLOSE.revoked, reason.slice(0, 120));
    },
    /** Upstream WatchSession streams open now: one per watched session, whatever the sockets. */
    upstreamStreams: () => feeds.size(),
    /** Open connections, and how many of them are authenticated. */
    connections: () => ({
      open: connections.size,
      authenticated: [...perPerson.values()].reduce((a, b) => a + b, 0),
    }),
    /**
     * Tells every client to reconnect elsewhere (1012) and resume from its last seq; those
     * that do not close in time are cut. Resolves once their offline reports are out.
     */
    async closeAll() {
      clearInterval(sweep);
      // Offline reports still go out below, and are handed off to the other instances.
      for (const conn of connections) conn.socket.close(CLOSE.restart, "server restarting");
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (connections.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      for (const conn of connections) {
        stopWatchingMe(conn);
        conn.socket.terminate();
      }
      feeds.closeAll();
      await Promise.allSettled([...reports]);
      // Let the hand-offs reach the bus before it closes.
      await new Promise((resolve) => setImmediate(resolve));
      await (await unsubscribePresence)?.().catch(() => undefined);
    },
  };
}

export type SocketHub = ReturnType<typeof createSocketHub>;
