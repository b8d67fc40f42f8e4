import * as grpc from "@grpc/grpc-js";
import { fromGrpcError, isServiceError } from "../errors";
import { newId } from "../ids";
import { startGrpcClientSpan } from "../tracing";
import { currentContext } from "./context";
import type { MethodDefinition, RequestOf, ResponseOf, ServiceDefinitionLike } from "./method-types";
import { splitPath } from "./method-types";
import { clientChannelOptions, DEFAULT_MAX_MESSAGE_BYTES } from "./options";

export interface CallOptions {
  /** Overrides the client's default deadline for this call. */
  deadlineMs?: number;
  /** A bearer token to send instead of the client's own credentials (the edge forwarding a user's token). */
  bearerToken?: string;
  /** A partner API key to send instead of a bearer token. */
  apiKey?: string;
  signal?: AbortSignal;
}

export interface ServerStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

export type ClientMethod<M> = M extends { requestStream: false; responseStream: false }
  ? (request: RequestOf<M>, options?: CallOptions) => Promise<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: true }
    ? (request: RequestOf<M>, options?: CallOptions) => ServerStream<ResponseOf<M>>
    : M extends { requestStream: true; responseStream: false }
      ? (
          requests: Iterable<RequestOf<M>> | AsyncIterable<RequestOf<M>>,
          options?: CallOptions,
        ) => Promise<ResponseOf<M>>
      : never;

export type ServiceClient<D> = { [K in keyof D]: ClientMethod<D[K]> } & { close(): void };

export interface ServiceClientOptions<D> {
  /** host:port, or dns:///host:port to spread calls over every address (round robin). */
  address: string;
  /** The caller's own bearer token (a service identity), sent unless a call brings its own. */
  credentials?: () => Promise<string>;
  /** Applied to unary and client-streaming calls without their own deadline. */
  defaultDeadlineMs?: number;
  /**
   * Methods safe to send twice (reads, and writes idempotent by request_id): retried on
   * UNAVAILABLE with backoff by grpc-js itself. Nothing else is retried.
   */
  idempotent?: Array<keyof D>;
  maxMessageBytes?: number;
  channelOptions?: grpc.ChannelOptions;
  /**
   * Methods whose calls wait, within their deadline, for the channel to connect instead of
   * failing at once while it reconnects (gRPC's wait-for-ready): for what a service cannot work
   * without and may ask for while its dependency starts or restarts, such as auth's key set.
   */
  waitForReady?: Array<keyof D>;
}

function serviceConfig(definition: ServiceDefinitionLike, idempotent: PropertyKey[]): string {
  const names = idempotent.map((key) => splitPath(definition[key as string]!.path));
  return JSON.stringify({
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig:
      names.length === 0
        ? []
        : [
            {
              name: names,
              retryPolicy: {
                maxAttempts: 3,
                initialBackoff: "0.05s",
                maxBackoff: "0.5s",
                backoffMultiplier: 2,
                retryableStatusCodes: ["UNAVAILABLE"],
              },
            },
          ],
  });
}

/**
 * A promise-based client for a generated service definition: request id and credentials
 * propagated, default deadline, retries only for the methods declared idempotent, errors
 * rethrown as AppError (reason and metadata intact). One client = one channel; reuse it.
 */
export function createServiceClient<D extends ServiceDefinitionLike>(
  definition: D,
  options: ServiceClientOptions<D>,
): ServiceClient<D> {
  const client = new grpc.Client(options.address, grpc.credentials.createInsecure(), {
    ...clientChannelOptions(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    "grpc.service_config": serviceConfig(definition, options.idempotent ?? []),
    ...options.channelOptions,
  });
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 5_000;

  const waiting = new Set((options.waitForReady ?? []).map((key) => definition[key as string]!.path));
  const metadataFor = async (method: MethodDefinition, callOptions: CallOptions | undefined) => {
    const metadata = new grpc.Metadata(waiting.has(method.path) ? { waitForReady: true } : undefined);
    metadata.set("x-request-id", currentContext()?.requestId ?? newId());
    if (callOptions?.bearerToken) metadata.set("authorization", `Bearer ${callOptions.bearerToken}`);
    else if (callOptions?.apiKey) metadata.set("x-api-key", callOptions.apiKey);
    else if (options.credentials) metadata.set("authorization", `Bearer ${await options.credentials()}`);
    return metadata;
  };

  const grpcOptions = (deadlineMs: number | undefined): grpc.CallOptions =>
    deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };

  const translate = (error: unknown): unknown => (isServiceError(error) ? fromGrpcError(error) : error);

  const cancelOnAbort = (call: { cancel(): void }, signal: AbortSignal | undefined) => {
    if (!signal) return;
    if (signal.aborted) call.cancel();
    else signal.addEventListener("abort", () => call.cancel(), { once: true });
  };

  /** The call's CLIENT span (while tracing is on), its context sent in the metadata. */
  const traceCall = (method: MethodDefinition, metadata: grpc.Metadata) =>
    startGrpcClientSpan(method.path, (key, value) => metadata.set(key, value));
  const endTrace = (span: ReturnType<typeof traceCall>, error: grpc.ServiceError | null | undefined) =>
    span?.end(error ? error.code : grpc.status.OK, error?.details);

  const unary = (method: MethodDefinition) => async (request: unknown, callOptions?: CallOptions) => {
    const metadata = await metadataFor(method, callOptions);
    const span = traceCall(method, metadata);
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(
        method.path,
        method.requestSerialize as (value: unknown) => Buffer,
        method.responseDeserialize,
        request,
        metadata,
        grpcOptions(callOptions?.deadlineMs ?? defaultDeadlineMs),
        (error, response) => {
          endTrace(span, error);
          if (error) reject(translate(error));
          else resolve(response);
        },
      );
      cancelOnAbort(call, callOptions?.signal);
    });
  };

  const serverStreaming = (method: MethodDefinition) => (request: unknown, callOptions?: CallOptions) => {
    let call: grpc.ClientReadableStream<unknown> | undefined;
    let cancelled = false;
    return {
      cancel() {
        cancelled = true;
        call?.cancel();
      },
      async *[Symbol.asyncIterator]() {
        const metadata = await metadataFor(method, callOptions);
        const span = traceCall(method, metadata);
        let failure: grpc.ServiceError | undefined;
        call = client.makeServerStreamRequest(
          method.path,
          method.requestSerialize as (value: unknown) => Buffer,
          method.responseDeserialize,
          request,
          metadata,
          grpcOptions(callOptions?.deadlineMs),
        );
        if (cancelled) call.cancel();
        cancelOnAbort(call, callOptions?.signal);
        try {
          for await (const message of call) yield message;
        } catch (error) {
          if (isServiceError(error) && error.code === grpc.status.CANCELLED && cancelled) return;
          if (isServiceError(error)) failure = error;
          throw translate(error);
        } finally {
          endTrace(span, failure);
          call.cancel();
        }
      },
    };
  };

  const clientStreaming =
    (method: MethodDefinition) =>
    async (requests: Iterable<unknown> | AsyncIterable<unknown>, callOptions?: CallOptions) => {
      const metadata = await metadataFor(method, callOptions);
      const span = traceCall(method, metadata);
      let call: grpc.ClientWritableStream<unknown> | undefined;
      const response = new Promise((resolve, reject) => {
        call = client.makeClientStreamRequest(
          method.path,
          method.requestSerialize as (value: unknown) => Buffer,
          method.responseDeserialize,
          metadata,
          grpcOptions(callOptions?.deadlineMs ?? defaultDeadlineMs),
          (error, value) => {
            endTrace(span, error);
            if (error) reject(translate(error));
            else resolve(value);
          },
        );
      });
      const stream = call!;
      cancelOnAbort(stream, callOptions?.signal);
      // The server may answer (fail) before every request is sent: that answer wins, at once.
      const answered = response.then(
        () => true,
        () => true,
      );
      try {
        for await (const request of requests) {
          if (stream.write(request)) continue;
          const drained = new Promise<boolean>((resolve) => stream.once("drain", () => resolve(false)));
          if (await Promise.race([drained, answered])) break;
        }
      } catch (error) {
        // A half-sent batch must not look complete to the server: cancel, never end.
        stream.cancel();
        response.catch(() => undefined);
        throw error;
      }
      stream.end();
      return response;
    };

  const methods: Record<string, unknown> = {
    close: () => client.close(),
  };
  for (const [key, method] of Object.entries(definition)) {
    methods[key] = !method.requestStream
      ? method.responseStream
        ? serverStreaming(method)
        : unary(method)
      : clientStreaming(method);
  }
  return methods as ServiceClient<D>;
}
