import { lookup } from "node:dns/promises";
import http2 from "node:http2";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "@parley/kit/grpc";
import { RelayRequest, RelayResponse, RelayServiceService } from "@parley/proto/parley/relay/v1/relay";

const { NGHTTP2_DEFAULT_WEIGHT } = http2.constants;

/**
 * The relay stream's options, priority included (given none, Node's `request()` adds the
 * default priority fields to its own copy).
 */
const STREAM_OPTIONS = {
  endStream: false,
  weight: NGHTTP2_DEFAULT_WEIGHT,
  parent: 0,
  exclusive: false,
  silent: false,
};

/** How often a `dns:///` target's addresses are looked up again (new instances join). */
const RESOLVE_EVERY_MS = 30_000;
/** An address that just failed is skipped for this long while others remain. */
const FAILED_ADDRESS_PAUSE_MS = 1_000;
/**
 * Each session is pinged every `intervalMs` (as grpc-js clients ping, the kit's keepalive), and
 * when a call on it runs out of time; one that has not answered a ping, or connected, within
 * `timeoutMs` is given up: its calls fail UNAVAILABLE and the next go to a new connection. A host
 * gone without a word (a crash, a partition) would otherwise hold every call sent to it for its
 * whole deadline until the kernel gave up on the connection, minutes later.
 */
export interface Keepalive {
  intervalMs: number;
  timeoutMs: number;
}
const KEEPALIVE: Keepalive = { intervalMs: KEEPALIVE_TIME_MS, timeoutMs: KEEPALIVE_TIMEOUT_MS };
/** A call past its deadline pings its session at most this often. */
const DEADLINE_PROBE_EVERY_MS = 1_000;

/** The answers' flow-control window: a large answer does not wait on the one stream. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/** A gRPC message's 5-byte prefix (not compressed; the length is set once it is known). */
const FRAME_HEADER = new Uint8Array(5);
/**
 * One writer for the relayed requests of usual size: its buffer has grown to the size of a
 * call (a bearer token makes that ~1 KiB) and stays, where a fresh writer per call starts small
 * and doubles its buffer several times, copying as it goes. A large request gets a writer of
 * its own, so the shared one never keeps a large buffer.
 */
const writer = new BinaryWriter();
const SHARED_WRITER_MESSAGE_BYTES = 16 * 1024;

/** A relayed call as one gRPC message: the frame's prefix and the encoded request, in one buffer. */
function frame(request: RelayRequest): Buffer {
  const into = request.message.length <= SHARED_WRITER_MESSAGE_BYTES ? writer : new BinaryWriter();
  const bytes = RelayRequest.encode(request, into.raw(FRAME_HEADER)).finish();
  const framed = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  framed.writeUInt32BE(framed.length - FRAME_HEADER.length, 1);
  return framed;
}

/** A unary gRPC call's failure, shaped like grpc-js's (the kit's fromGrpcError reads it). */
function statusError(code: status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

/** Marks a failure of a call that no server started (safe to send elsewhere). */
const unsent = (error: ServiceError): ServiceError => Object.assign(error, { unsent: true });

/** A relayed call's trailers as grpc-js reports them: binary values for "-bin" names. */
function metadataOf(trailers: Record<string, Buffer>): Metadata {
  const metadata = new Metadata();
  for (const name in trailers) {
    const value = trailers[name]!;
    metadata.add(name, name.endsWith("-bin") ? value : value.toString());
  }
  return metadata;
}

/** One call waiting for its answer on a relay stream: its promise's settlers and its deadline. */
interface Pending {
  resolve(message: Buffer): void;
  reject(error: ServiceError): void;
  timer: NodeJS.Timeout;
}

/** Settles a call taken off its relay's pending map. */
function settle(call: Pending, outcome: Buffer | ServiceError): void {
  clearTimeout(call.timer);
  if (Buffer.isBuffer(outcome)) call.resolve(outcome);
  else call.reject(outcome);
}

/** A RelayService stream on one session: calls go out as messages and come back by id. */
interface Relay {
  stream: http2.ClientHttp2Stream;
  pending: Map<number, Pending>;
  nextId: number;
}

interface Connection {
  address: string;
  session: http2.ClientHttp2Session | undefined;
  relay: Relay | undefined;
  failedAt: number;
  /** Pings the current session (keepalive), unless a ping is out already. */
  probe?: () => void;
}

export interface UnaryChannel {
  /**
   * Calls `path` with an encoded request message and the given metadata (plain headers);
   * resolves with the encoded response message, or rejects with a grpc-js-shaped ServiceError
   * (code, details, metadata with grpc-status-details-bin).
   */
  call(path: string, message: Buffer, headers: Record<string, string>, deadlineMs: number): Promise<Buffer>;
  close(): void;
}

/**
 * Unary gRPC calls relayed over one long-lived stream per upstream address (RelayService,
 * protos/parley/relay/v1/relay.proto): each call is a message out and a message back, matched
 * by id. An HTTP/2 stream per call cost the edge ~100 µs of its ~170 µs per request (Node's
 * client builds a stream object, encodes and parses headers and trailers); a message on an
 * open stream costs a few. Every kit server serves the relay, and a relayed call is served
 * exactly as a direct one (the same authentication, permissions and audit, from the same
 * metadata). Calls spread round robin over a `dns:///host:port` target's addresses (looked
 * up again every 30 s) or a static `ipv4:host:port,host:port` list. A call no server started
 * (its address refused the connection, or the instance is shutting down) goes to the next
 * address; otherwise failures are UNAVAILABLE, a call past its deadline DEADLINE_EXCEEDED
 * (the server cancels it too), and statuses, messages and binary metadata come back exactly
 * as grpc-js reports them.
 */
export function createUnaryChannel(
  target: string,
  maxMessageBytes: number,
  keepalive: Keepalive = KEEPALIVE,
): UnaryChannel {
  const dns = /^dns:\/\/\/(.+):(\d+)$/.exec(target);
  // gRPC's static list syntax, `ipv4:10.0.0.5:50053,10.0.0.6:50053` (or `ipv6:[::1]:50053,…`).
  const fixed = /^ipv[46]:(.+)$/.exec(target)?.[1]?.split(",") ?? [target];
  const connectionTo = (address: string): Connection => ({
    address,
    session: undefined,
    relay: undefined,
    failedAt: 0,
  });
  let connections: Connection[] = dns ? [] : fixed.map(connectionTo);
  let next = 0;
  let closed = false;

  const resolve = async () => {
    if (!dns) return;
    try {
      const found = await lookup(dns[1]!, { all: true });
      const addresses = found.map((a) =>
        a.family === 6 ? `[${a.address}]:${dns[2]}` : `${a.address}:${dns[2]}`,
      );
      const kept = connections.filter((c) => addresses.includes(c.address));
      for (const gone of connections.filter((c) => !addresses.includes(c.address))) {
        gone.relay?.stream.end();
        gone.session?.close();
      }
      connections = [
        ...kept,
        ...addresses.filter((a) => !kept.some((c) => c.address === a)).map(connectionTo),
      ];
    } catch {
      // Keep the addresses in hand; the next lookup may succeed.
    }
  };
  let resolved = resolve();
  const resolver = dns
    ? setInterval(() => {
        resolved = resolve();
      }, RESOLVE_EVERY_MS)
    : undefined;
  resolver?.unref();

  /** Sessions that reached their server: a call failing on any other was never sent. */
  const connected = new WeakSet<http2.ClientHttp2Session>();
  const sessionOf = (connection: Connection) => {
    const current = connection.session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect(`http://${connection.address}`, {
      settings: { enablePush: false, initialWindowSize: WINDOW_BYTES },
    });
    const forget = () => {
      if (connection.session !== session) return;
      connection.session = undefined;
      connection.relay = undefined;
    };
    session.on("error", () => {
      connection.failedAt = Date.now();
      forget();
    });
    // Calls in flight finish on the old stream; new calls open a fresh session.
    session.on("goaway", forget);
    session.on("close", forget);
    const giveUp = (why: string) => {
      connection.failedAt = Date.now();
      session.destroy(new Error(why));
    };
    const connecting = setTimeout(() => giveUp("no connection in time"), keepalive.timeoutMs);
    connecting.unref();
    session.once("connect", () => {
      clearTimeout(connecting);
      connected.add(session);
      session.setLocalWindowSize(WINDOW_BYTES);
    });
    let pinging = false;
    let pingedAt = 0;
    const probe = () => {
      if (pinging || session.destroyed || session.closed || !connected.has(session)) return;
      pinging = true;
      pingedAt = Date.now();
      const unanswered = setTimeout(() => giveUp("no answer to a keepalive ping"), keepalive.timeoutMs);
      unanswered.unref();
      session.ping((error) => {
        clearTimeout(unanswered);
        pinging = false;
        if (error) giveUp(error.message);
      });
    };
    const pinger = setInterval(probe, keepalive.intervalMs);
    pinger.unref();
    session.once("close", () => {
      clearTimeout(connecting);
      clearInterval(pinger);
    });
    connection.session = session;
    connection.probe = () => {
      if (connection.session === session && Date.now() - pingedAt >= DEADLINE_PROBE_EVERY_MS) probe();
    };
    return session;
  };

  /** The connection's relay stream, opened on first use and again after it ends. */
  const relayOf = (connection: Connection): Relay => {
    if (connection.relay) return connection.relay;
    const session = sessionOf(connection);
    const stream = session.request(
      {
        ":method": "POST",
        ":authority": connection.address,
        ":scheme": "http",
        ":path": RelayServiceService.relay.path,
        "content-type": "application/grpc",
        te: "trailers",
      },
      STREAM_OPTIONS,
    );
    const relay: Relay = { stream, pending: new Map(), nextId: 0 };
    connection.relay = relay;
    let response: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let buffered: Buffer | undefined;
    stream.on("response", (headers) => {
      response = headers;
    });
    stream.on("trailers", (headers) => {
      trailers = headers;
    });
    stream.on("data", (chunk: Buffer) => {
      let data = buffered ? Buffer.concat([buffered, chunk]) : chunk;
      while (data.length >= 5 && data.length >= 5 + data.readUInt32BE(1)) {
        const end = 5 + data.readUInt32BE(1);
        const response = RelayResponse.decode(data.subarray(5, end));
        // Refused unstarted: the instance is shutting down (or full); others first for a while.
        if (response.unprocessed) connection.failedAt = Date.now();
        answer(relay, response);
        data = data.subarray(end);
      }
      buffered = data.length > 0 ? data : undefined;
    });
    const retire = () => {
      if (connection.relay === relay) connection.relay = undefined;
    };
    // The server ended its side (shutting down, every call it started answered): new calls
    // go to a new stream at once, and this one closes so the server can stop.
    stream.on("end", () => {
      retire();
      stream.end();
    });
    stream.on("error", () => undefined);
    stream.on("close", () => {
      retire();
      if (relay.pending.size === 0) return;
      if (!connected.has(session)) connection.failedAt = Date.now();
      // A server ends the stream cleanly only once every call it started is answered: the
      // rest never reached it, like calls to a session that never connected.
      const started = connected.has(session) && Number((trailers ?? response)?.["grpc-status"]) !== status.OK;
      const error = streamError(stream, response, trailers);
      for (const call of relay.pending.values()) settle(call, started ? error : unsent(error));
      relay.pending.clear();
    });
    return relay;
  };

  const answer = (relay: Relay, response: RelayResponse) => {
    const call = relay.pending.get(response.id);
    if (!call) return; // Past its deadline: already failed.
    relay.pending.delete(response.id);
    if (response.unprocessed) settle(call, unsent(statusError(response.code, response.details)));
    else if (response.code !== status.OK)
      settle(call, statusError(response.code, response.details, metadataOf(response.trailers)));
    else if (response.message.length > maxMessageBytes)
      settle(call, statusError(status.RESOURCE_EXHAUSTED, "response larger than the maximum message size"));
    else settle(call, response.message);
  };

  const pick = (): Connection | undefined => {
    const now = Date.now();
    for (let i = 0; i < connections.length; i++) {
      const connection = connections[(next + i) % connections.length]!;
      if (now - connection.failedAt >= FAILED_ADDRESS_PAUSE_MS || i === connections.length - 1) {
        next = (next + i + 1) % connections.length;
        return connection;
      }
    }
    return undefined;
  };

  const send = (path: string, message: Buffer, headers: Record<string, string>, deadlineMs: number) =>
    new Promise<Buffer>((done, fail) => {
      const connection = pick();
      if (!connection || closed) return fail(statusError(status.UNAVAILABLE, `no address for ${target}`));
      let relay: Relay;
      try {
        relay = relayOf(connection);
      } catch (error) {
        connection.failedAt = Date.now();
        return fail(statusError(status.UNAVAILABLE, (error as Error).message));
      }
      const id = relay.nextId;
      const framed = frame({ id, method: path, message, metadata: headers, timeoutMs: deadlineMs });
      // The server would refuse it by ending the stream, and every call on it with it.
      if (framed.length - FRAME_HEADER.length > maxMessageBytes)
        return fail(statusError(status.RESOURCE_EXHAUSTED, "request larger than the maximum message size"));
      relay.nextId = (relay.nextId + 1) >>> 0;
      const timer = setTimeout(() => {
        relay.pending.delete(id);
        fail(statusError(status.DEADLINE_EXCEEDED, "deadline exceeded"));
        // A slow server, or a dead one: its ping answers.
        connection.probe?.();
      }, deadlineMs);
      relay.pending.set(id, { resolve: done, reject: fail, timer });
      relay.stream.write(framed);
    });

  return {
    call(path, message, headers, deadlineMs) {
      // A call no server started (its address refused the connection: an instance that died;
      // or one shutting down) goes to the next address at once, each address tried once at most.
      const attempt = (tries: number): Promise<Buffer> =>
        send(path, message, headers, deadlineMs).catch((error: ServiceError & { unsent?: boolean }) => {
          if (error.unsent && tries < connections.length) return attempt(tries + 1);
          throw error;
        });
      if (connections.length === 0) return resolved.then(() => attempt(1));
      return attempt(1);
    },
    close() {
      closed = true;
      clearInterval(resolver);
      for (const connection of connections) {
        connection.relay?.stream.end();
        connection.session?.close();
      }
    },
  };
}

/** Why a relay stream ended with calls unanswered: its status, else what HTTP said. */
function streamError(
  stream: http2.ClientHttp2Stream,
  response: http2.IncomingHttpHeaders | undefined,
  trailers: http2.IncomingHttpHeaders | undefined,
): ServiceError {
  const source = trailers ?? response;
  const grpcStatus = source?.["grpc-status"];
  if (grpcStatus !== undefined && Number(grpcStatus) !== status.OK)
    return statusError(
      Number(grpcStatus) as status,
      decodeURIComponent(String(source?.["grpc-message"] ?? "")),
      Metadata.fromHttp2Headers(source!),
    );
  const httpStatus = Number(response?.[":status"] ?? 0);
  if (response && httpStatus !== 200) return statusError(fromHttpStatus(httpStatus), `HTTP ${httpStatus}`);
  return statusError(status.UNAVAILABLE, `the relay stream ended (code ${stream.rstCode ?? "none"})`);
}

/** gRPC's mapping of an HTTP status without grpc-status (a proxy answering, say). */
function fromHttpStatus(httpStatus: number): status {
  if (httpStatus === 400) return status.INTERNAL;
  if (httpStatus === 401) return status.UNAUTHENTICATED;
  if (httpStatus === 403) return status.PERMISSION_DENIED;
  if (httpStatus === 404) return status.UNIMPLEMENTED;
  if ([429, 502, 503, 504].includes(httpStatus)) return status.UNAVAILABLE;
  return status.UNKNOWN;
}
