import type { DescMethod, FileRegistry } from "@bufbuild/protobuf";
import { fromBinary, type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { TokenVerifier } from "@parley/kit/auth";
import { isUuid, newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import { decodeJwt } from "jose";
import type { WebSocket } from "ws";
import { toHttpError } from "../http/errors";
import { encodeJson } from "../http/transcode";
import { upstreamMetadata } from "../metadata";
import type { UpstreamName, Upstreams } from "../upstreams";

/** Close codes of the /v1/ws protocol (documented in the README). */
export const CLOSE = {
  normal: 1000,
  policy: 1008,
  tooBig: 1009,
  restart: 1012,
  unauthenticated: 4001,
  slowConsumer: 4009,
} as const;

const AUTH_TIMEOUT_MS = 10_000;
/** Liveness: a connection that answers no ping for this long is dead (a phone that lost signal). */
const PING_INTERVAL_MS = 30_000;
/** At shutdown, how long clients get to close before they are cut and reported offline. */
const SHUTDOWN_GRACE_MS = 1_000;

export interface SocketDeps {
  registry: FileRegistry;
  upstreams: Upstreams;
  verifier: TokenVerifier;
  /** The edge's own service token (presence reports). */
  credentials: () => Promise<string>;
  log: Logger;
  deadlineMs: number;
  framesPerSecond: number;
  maxBufferedBytes: number;
}

interface Rpc {
  upstream: UpstreamName;
  method: DescMethod;
}

/** Frame types that are one unary session RPC made as the signed-in person. */
const FRAME_RPCS: Record<string, string> = {
  send_message: "SendMessage",
  typing: "SendTyping",
  read: "MarkRead",
  signal: "SendSignal",
};

/** A frame the protocol does not accept, answered with an INVALID_ARGUMENT error frame. */
const frameError = (reason: "INVALID_FRAME" | "UNKNOWN_FRAME", message: string) =>
  Object.assign(new Error(message), { frameReason: reason });

export function createSocketHandler(deps: SocketDeps) {
  const sessionService = deps.registry.getService("parley.session.v1.SessionService")!;
  const userService = deps.registry.getService("parley.user.v1.UserService")!;
  const rpc = (upstream: UpstreamName, service: typeof sessionService, name: string): Rpc => ({
    upstream,
    method: service.methods.find((m) => m.name === name)!,
  });
  const watch = rpc("session", sessionService, "WatchSession");
  const sessionPresence = rpc("session", sessionService, "ReportPresence");
  const userPresence = rpc("user", userService, "ReportPresence");
  const path = (r: Rpc) => `/${r.method.parent.typeName}/${r.method.name}`;
  const encode = (r: Rpc, json: JsonValue) => encodeJson(r.method.input, json, deps.registry);
  const decode = (r: Rpc, bytes: Uint8Array) =>
    toJson(r.method.output, fromBinary(r.method.output, bytes), {
      registry: deps.registry,
      useProtoFieldName: true,
      alwaysEmitImplicit: true,
    });
  const sockets = new Set<WebSocket>();
  const reports = new Set<Promise<unknown>>();
  /**
   * Connections of this instance that hold a person (key: user id) or a person's session
   * (key: "user/session") online: offline is reported only when the last one lets go, so
   * closing one of two tabs does not sign the person off.
   */
  const holders = new Map<string, number>();
  const hold = (key: string) => {
    const count = (holders.get(key) ?? 0) + 1;
    holders.set(key, count);
    return count === 1;
  };
  const letGo = (key: string) => {
    const count = (holders.get(key) ?? 1) - 1;
    if (count > 0) holders.set(key, count);
    else holders.delete(key);
    return count <= 0;
  };

  function handle(socket: WebSocket, client: { ip: string; userAgent?: string }) {
    sockets.add(socket);
    let person: { userId: string; token: string } | undefined;
    /** Sessions this connection has reported the person online in. */
    const online = new Set<string>();
    let expiryTimer: NodeJS.Timeout | undefined;
    const subscriptions = new Map<string, ClientReadableStream<Buffer>>();
    let tokens = deps.framesPerSecond * 2;
    let refilledAt = Date.now();
    const log = deps.log.child({ ws: newId() });

    const send = (frame: JsonObject) => {
      if (socket.readyState !== socket.OPEN) return;
      // A client that does not read is closed, never buffered for without bound.
      if (socket.bufferedAmount > deps.maxBufferedBytes) {
        socket.close(CLOSE.slowConsumer, "slow consumer");
        return;
      }
      socket.send(JSON.stringify(frame));
    };
    const sendError = (error: unknown, extra: JsonObject = {}) =>
      send({ type: "error", ...extra, error: toHttpError(error, "").body.error as unknown as JsonObject });

    const asPerson = (r: Rpc, json: JsonValue) =>
      deps.upstreams
        .unary(
          r.upstream,
          path(r),
          encode(r, json),
          upstreamMetadata({ requestId: newId(), bearerToken: person!.token, clientIp: client.ip }),
          deps.deadlineMs,
        )
        .then((bytes) => decode(r, bytes));
    const asEdge = async (r: Rpc, json: JsonValue) =>
      deps.upstreams.unary(
        r.upstream,
        path(r),
        encode(r, json),
        upstreamMetadata({ requestId: newId(), bearerToken: await deps.credentials(), clientIp: client.ip }),
        deps.deadlineMs,
      );
    /** Reports to user (the person, when `person` is set) and to session (each of `sessionIds`). */
    const report = (online: boolean, userId: string, options: { person: boolean; sessionIds: string[] }) => {
      const calls = [
        ...(options.person ? [asEdge(userPresence, { user_id: userId, online })] : []),
        ...options.sessionIds.map((sessionId) =>
          asEdge(sessionPresence, { user_id: userId, session_id: sessionId, online }),
        ),
      ];
      if (calls.length === 0) return;
      const settled = Promise.allSettled(calls).then((results) => {
        for (const r of results)
          if (r.status === "rejected") log.warn({ err: r.reason }, "presence report failed");
      });
      reports.add(settled);
      void settled.finally(() => reports.delete(settled));
    };
    const sessionOnline = (sessionId: string) => {
      if (!person || online.has(sessionId)) return;
      online.add(sessionId);
      hold(`${person.userId}/${sessionId}`);
      report(true, person.userId, { person: false, sessionIds: [sessionId] });
    };
    const sessionOffline = (sessionId: string) => {
      if (!person || !online.delete(sessionId)) return;
      if (letGo(`${person.userId}/${sessionId}`))
        report(false, person.userId, { person: false, sessionIds: [sessionId] });
    };
    const heartbeat = () => {
      if (person) report(true, person.userId, { person: true, sessionIds: [...online] });
    };

    const authTimer = setTimeout(() => {
      if (!person) socket.close(CLOSE.unauthenticated, "authenticate first");
    }, AUTH_TIMEOUT_MS);

    const authenticate = async (token: unknown) => {
      if (typeof token !== "string") throw new Error("token must be a string");
      const principal = await deps.verifier.verify(token);
      if (principal.kind !== "user") {
        socket.close(CLOSE.unauthenticated, "a person's access token is required");
        return;
      }
      // A fresh token extends the connection; it never turns it into somebody else's.
      if (person && person.userId !== principal.userId) {
        socket.close(CLOSE.unauthenticated, "a connection belongs to one person");
        return;
      }
      const first = !person;
      person = { userId: principal.userId, token };
      clearTimeout(authTimer);
      clearTimeout(expiryTimer);
      const expiresAtMs = (decodeJwt(token).exp ?? 0) * 1000;
      // Past expiry without a fresh "auth" frame the connection ends; the client re-auths and resumes.
      expiryTimer = setTimeout(
        () => socket.close(CLOSE.unauthenticated, "token expired"),
        Math.max(0, expiresAtMs - Date.now()),
      );
      send({ type: "ready", user_id: person.userId, expires_at: new Date(expiresAtMs).toISOString() });
      if (first && hold(person.userId)) report(true, person.userId, { person: true, sessionIds: [] });
    };

    const subscribe = (sessionId: string, afterSeq: string) => {
      if (!isUuid(sessionId))
        throw frameError("INVALID_FRAME", "subscribe needs the session_id of one session");
      subscriptions.get(sessionId)?.cancel();
      const stream = deps.upstreams.serverStream(
        watch.upstream,
        path(watch),
        encode(watch, { session_id: sessionId, after_seq: afterSeq }),
        upstreamMetadata({ requestId: newId(), bearerToken: person!.token, clientIp: client.ip }),
      );
      subscriptions.set(sessionId, stream);
      stream.on("data", (bytes: Buffer) =>
        send({ type: "event", session_id: sessionId, event: decode(watch, bytes) as JsonObject }),
      );
      stream.on("error", (error: { code?: number }) => {
        if (subscriptions.get(sessionId) !== stream) return;
        subscriptions.delete(sessionId);
        sessionOffline(sessionId);
        if (error.code !== 1) sendError(error, { session_id: sessionId });
      });
      stream.on("end", () => {
        if (subscriptions.get(sessionId) !== stream) return;
        subscriptions.delete(sessionId);
        sessionOffline(sessionId);
      });
      send({ type: "subscribed", session_id: sessionId });
      sessionOnline(sessionId);
    };

    const onFrame = async (frame: JsonObject) => {
      const { type, id } = frame;
      if (type === "auth") return authenticate(frame.token);
      if (type === "ping") return send({ type: "pong", ...(id === undefined ? {} : { id }) });
      if (!person) {
        socket.close(CLOSE.unauthenticated, "authenticate first");
        return;
      }
      if (type === "subscribe")
        return subscribe(String(frame.session_id ?? ""), String(frame.after_seq ?? "0"));
      if (type === "unsubscribe") {
        const sessionId = String(frame.session_id);
        subscriptions.get(sessionId)?.cancel();
        subscriptions.delete(sessionId);
        sessionOffline(sessionId);
        return;
      }
      if (type === "presence") return heartbeat();
      const rpcName = typeof type === "string" ? FRAME_RPCS[type] : undefined;
      if (!rpcName) throw frameError("UNKNOWN_FRAME", `unknown frame type ${String(type)}`);
      const { type: _type, id: _id, ...fields } = frame;
      const result = await asPerson(rpc("session", sessionService, rpcName), fields);
      send({ type: "ack", ...(id === undefined ? {} : { id }), result: result as JsonObject });
    };

    socket.on("message", (data, isBinary) => {
      const now = Date.now();
      tokens = Math.min(
        deps.framesPerSecond * 2,
        tokens + ((now - refilledAt) / 1000) * deps.framesPerSecond,
      );
      refilledAt = now;
      if (tokens < 1) {
        socket.close(CLOSE.policy, "rate limit exceeded");
        return;
      }
      tokens -= 1;
      let frame: JsonObject;
      try {
        if (isBinary) throw new Error("binary frames are not part of the protocol");
        const parsed = JSON.parse(data.toString()) as unknown;
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
          throw new Error("a frame is a JSON object");
        frame = parsed as JsonObject;
      } catch (error) {
        send({
          type: "error",
          error: {
            code: 400,
            status: "INVALID_ARGUMENT",
            reason: "INVALID_FRAME",
            message: String((error as Error).message),
            details: {},
            request_id: "",
          },
        });
        return;
      }
      onFrame(frame).catch((error: unknown) => {
        const { frameReason } = error as { frameReason?: string };
        if (frameReason)
          send({
            type: "error",
            ...(frame.id === undefined ? {} : { id: frame.id }),
            error: {
              code: 400,
              status: "INVALID_ARGUMENT",
              reason: frameReason,
              message: (error as Error).message,
              details: {},
              request_id: "",
            },
          });
        else sendError(error, frame.id === undefined ? {} : { id: frame.id });
        if (frame.type === "auth" && !person) socket.close(CLOSE.unauthenticated, "invalid token");
      });
    });

    let alive = true;
    socket.on("pong", () => {
      alive = true;
    });
    const liveness = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, PING_INTERVAL_MS);

    socket.on("close", () => {
      sockets.delete(socket);
      clearTimeout(authTimer);
      clearTimeout(expiryTimer);
      clearInterval(liveness);
      for (const stream of subscriptions.values()) stream.cancel();
      subscriptions.clear();
      for (const sessionId of [...online]) sessionOffline(sessionId);
      if (person && letGo(person.userId)) report(false, person.userId, { person: true, sessionIds: [] });
    });
  }

  return {
    handle,
    /**
     * Tells every client to reconnect elsewhere (1012) and resume from its last seq; those
     * that do not close in time are cut. Resolves once their offline reports are out.
     */
    async closeAll() {
      for (const socket of sockets) socket.close(CLOSE.restart, "server restarting");
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (sockets.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      for (const socket of sockets) socket.terminate();
      await Promise.allSettled([...reports]);
    },
  };
}
