import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import {
  type RelayRequest,
  type RelayResponse,
  type RelayServiceServer,
  RelayServiceService,
} from "@parley/proto/parley/relay/v1/relay";
import type { Logger } from "../log";

/** The part of a grpc-js call the kit server's per-call code uses: a direct call, or a relayed one. */
export interface SurfaceCall {
  readonly metadata: grpc.Metadata;
  readonly cancelled: boolean;
  sendMetadata(metadata: grpc.Metadata): void;
  getPeer(): string;
  once(event: "cancelled", listener: () => void): unknown;
}

/** A unary call as the kit server serves it: its request, answered through `done`. */
export interface UnaryCall extends SurfaceCall {
  readonly request: unknown;
}
export type UnaryImplementation = (
  call: UnaryCall,
  done: (error: Partial<grpc.StatusObject> | null, value?: unknown) => void,
) => void;

/** One unary method as the relay serves it: its decoder, encoder and the kit's implementation. */
export interface RelayedMethod {
  decode(message: Buffer): unknown;
  encode(value: unknown): Buffer;
  serve: UnaryImplementation;
}

/** Calls in flight on one stream beyond which new ones are answered unprocessed. */
const MAX_IN_FLIGHT = 10_000;
/** Room for a response's envelope (id, status) within the stream's message size limit. */
const ENVELOPE_BYTES = 64;
/** gRPC's default limit on a call's metadata, which a direct call would meet in grpc-js. */
const MAX_METADATA_BYTES = 8 * 1024;

/** A relayed call: what the kit's per-call code reads of a grpc-js call. */
class RelayedCall extends EventEmitter implements UnaryCall {
  cancelled = false;
  constructor(
    readonly request: unknown,
    readonly metadata: grpc.Metadata,
    private readonly peer: string,
  ) {
    super();
  }
  sendMetadata(): void {
    // Response headers are not relayed: the caller's own request id is the call's.
  }
  getPeer(): string {
    return this.peer;
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit("cancelled");
  }
}

/** The relay's request metadata as grpc-js would have parsed it from headers. */
function metadataOf(entries: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  let bytes = 0;
  for (const name in entries) {
    const value = entries[name]!;
    bytes += name.length + value.length;
    try {
      if (name.endsWith("-bin")) metadata.add(name, Buffer.from(value, "base64"));
      else metadata.add(name, value);
    } catch {
      // grpc-js's message quotes the value, which may be a credential: named, never echoed.
      throw Object.assign(new Error(`metadata ${JSON.stringify(name)} is not valid`), {
        code: grpc.status.INVALID_ARGUMENT,
      });
    }
  }
  if (bytes > MAX_METADATA_BYTES)
    throw Object.assign(new Error(`metadata of ${bytes} bytes is over the limit of ${MAX_METADATA_BYTES}`), {
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
  return metadata;
}

/** A failed call's trailing metadata as the relay carries it. */
function trailersOf(metadata: grpc.Metadata | undefined): Record<string, Buffer> {
  const trailers: Record<string, Buffer> = {};
  if (!metadata) return trailers;
  for (const [name, values] of Object.entries(metadata.toJSON())) {
    const value = values[0];
    if (value !== undefined) trailers[name] = typeof value === "string" ? Buffer.from(value) : value;
  }
  return trailers;
}

/**
 * The RelayService implementation (protos/parley/relay/v1/relay.proto): every message on the
 * stream is one unary call handed to the same implementation a direct call gets (the kit
 * server's: authentication, permissions, validation, staff audit, metrics, access log), with
 * the message's metadata and deadline and the stream's peer. Once `shuttingDown` aborts, new
 * calls are answered unprocessed and the stream ends when the calls in flight have finished.
 */
export function relayService(
  methods: ReadonlyMap<string, RelayedMethod>,
  shuttingDown: AbortSignal,
  maxMessageBytes: number,
  log: Logger,
) {
  const relay = (stream: grpc.ServerDuplexStream<RelayRequest, RelayResponse>) => {
    const peer = stream.getPeer();
    const inFlight = new Set<RelayedCall>();
    let ending = false;
    const gone = () => stream.cancelled || stream.destroyed || stream.writableEnded;
    const endWhenIdle = () => {
      if (ending && inFlight.size === 0 && !gone()) stream.end();
    };
    const stop = () => {
      ending = true;
      endWhenIdle();
    };
    const send = (response: RelayResponse) => {
      if (gone()) return;
      if (response.message.length + ENVELOPE_BYTES > maxMessageBytes)
        stream.write(
          outcome(
            response.id,
            grpc.status.RESOURCE_EXHAUSTED,
            "response larger than the maximum message size",
          ),
        );
      else stream.write(response);
    };
    // Headers at once: the caller knows the stream is served before its first answer.
    stream.sendMetadata(new grpc.Metadata());
    shuttingDown.addEventListener("abort", stop, { once: true });
    stream.on("end", stop);
    stream.on("cancelled", () => {
      for (const call of inFlight) call.cancel();
    });
    stream.on("close", () => shuttingDown.removeEventListener("abort", stop));
    stream.on("error", (error: Error) => log.debug({ err: error, peer }, "relay stream failed"));
    stream.on("data", (request: RelayRequest) => {
      if (ending || inFlight.size >= MAX_IN_FLIGHT) {
        send({ ...outcome(request.id, grpc.status.UNAVAILABLE, "not taking calls"), unprocessed: true });
        return;
      }
      const method = methods.get(request.method);
      if (!method) {
        send(outcome(request.id, grpc.status.UNIMPLEMENTED, `no unary method ${request.method}`));
        return;
      }
      let call: RelayedCall;
      try {
        call = new RelayedCall(method.decode(request.message), metadataOf(request.metadata), peer);
      } catch (error) {
        const code = (error as { code?: grpc.status }).code ?? grpc.status.INTERNAL;
        send(outcome(request.id, code, `could not read the call: ${(error as Error).message}`));
        return;
      }
      inFlight.add(call);
      const timer =
        request.timeoutMs > 0
          ? setTimeout(() => {
              call.cancel();
              finish(outcome(request.id, grpc.status.DEADLINE_EXCEEDED, "deadline exceeded"));
            }, request.timeoutMs)
          : undefined;
      let finished = false;
      const finish = (response: RelayResponse) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        inFlight.delete(call);
        send(response);
        endWhenIdle();
      };
      method.serve(call, (error, value) => {
        if (error) {
          const code = error.code ?? grpc.status.UNKNOWN;
          const response = outcome(request.id, code, error.details ?? "");
          response.trailers = trailersOf(error.metadata);
          finish(response);
        } else {
          finish({ ...outcome(request.id, grpc.status.OK, ""), message: method.encode(value) });
        }
      });
    });
  };
  const implementation: RelayServiceServer = { relay };
  return { definition: RelayServiceService, implementation };
}

/** One call's answer: its status (and `message`, set by the caller, when OK). */
function outcome(id: number, code: grpc.status, details: string): RelayResponse {
  return { id, code, message: EMPTY, details, trailers: {}, unprocessed: false };
}
const EMPTY = Buffer.alloc(0);
