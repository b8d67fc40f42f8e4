import type { DescMethod, FileRegistry } from "@bufbuild/protobuf";
import { fromBinary, type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { TokenVerifier } from "@parley/kit/auth";
import { newId } from "@parley/kit/ids";
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

  function handle(socket: WebSocket, client: { ip: string; userAgent?: string }) {
    sockets.add(socket);
    let person: { userId: string; token: string } | undefined;
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
    const reportPresence = (online: boolean, sessionIds: string[]) => {
      if (!person) return;
      const userId = person.userId;
      const reports = [
        asEdge(userPresence, { user_id: userId, online }),
        ...(sessionIds.length > 0 ? sessionIds : online ? [] : [""]).map((sessionId) =>
          asEdge(sessionPresence, { user_id: userId, session_id: sessionId, online }),
        ),
      ];
      void Promise.allSettled(reports).then((results) => {
        for (const r of results)
          if (r.status === "rejected") log.warn({ err: r.reason }, "presence report failed");
      });
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
      if (first) reportPresence(true, []);
    };

    const subscribe = (sessionId: string, afterSeq: string) => {
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
        if (error.code !== 1) sendError(error, { session_id: sessionId });
      });
      stream.on("end", () => {
        if (subscriptions.get(sessionId) === stream) subscriptions.delete(sessionId);
      });
      send({ type: "subscribed", session_id: sessionId });
      reportPresence(true, [sessionId]);
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
        subscriptions.get(String(frame.session_id))?.cancel();
        subscriptions.delete(String(frame.session_id));
        return;
      }
      if (type === "presence") return reportPresence(true, [...subscriptions.keys()]);
      const rpcName = typeof type === "string" ? FRAME_RPCS[type] : undefined;
      if (!rpcName) throw Object.assign(new Error(`unknown frame type ${String(type)}`), { frame: true });
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
        if ((error as { frame?: boolean }).frame)
          send({
            type: "error",
            ...(frame.id === undefined ? {} : { id: frame.id }),
            error: {
              code: 400,
              status: "INVALID_ARGUMENT",
              reason: "UNKNOWN_FRAME",
              message: (error as Error).message,
              details: {},
              request_id: "",
            },
          });
        else sendError(error, frame.id === undefined ? {} : { id: frame.id });
        if (frame.type === "auth" && !person) socket.close(CLOSE.unauthenticated, "invalid token");
      });
    });

    socket.on("close", () => {
      sockets.delete(socket);
      clearTimeout(authTimer);
      clearTimeout(expiryTimer);
      const watched = [...subscriptions.keys()];
      for (const stream of subscriptions.values()) stream.cancel();
      subscriptions.clear();
      reportPresence(false, watched);
    });
  }

  return {
    handle,
    /** Tells every client to reconnect elsewhere (1012) and resume from its last seq. */
    closeAll() {
      for (const socket of sockets) socket.close(CLOSE.restart, "server restarting");
    },
  };
}
