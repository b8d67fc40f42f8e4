import diagnostics from "node:diagnostics_channel";
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";

/**
 * Distributed tracing with OpenTelemetry, on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, off and free otherwise: the SDK
 * (`@opentelemetry/sdk-node`) is imported only then, and every helper here returns at once,
 * creating nothing, while it is off.
 *
 * The instrumentation is explicit, at the few places every hop already passes through: the
 * kit's gRPC server and clients, its Postgres pool (postgres.js), Redis commands (ioredis's own
 * tracing channel),
 * its outbox, and the edge's HTTP requests and upstream calls. Not the SDK's auto-instrumentations,
 * which patch modules as `require` loads them: Parley's services are ES modules (run by tsx in
 * tests, bundled by esbuild for production), which those hooks do not see without a loader;
 * the edge calls services over its own HTTP/2 channel, which no gRPC instrumentation knows; and
 * no OpenTelemetry instrumentation exists for postgres.js; and ioredis 6 publishes its commands on a
 * diagnostics channel of its own, which is read instead of patching it. Explicit spans behave the
 * same in the sources and in the built artefacts.
 *
 * Spans follow the OpenTelemetry conventions (rpc.*, http.*, db.*), carry the request id as
 * `parley.request_id`, and travel as W3C trace context (`traceparent`, `tracestate`): in
 * gRPC metadata, in HTTP headers, and in outbox rows (so work done after commit belongs to the
 * trace of the change that caused it). Database and Redis spans are made only inside a trace,
 * never as roots of their own (pollers would drown the rest).
 */

let tracer: Tracer | undefined;
let sdk: { shutdown(): Promise<void> } | undefined;

/** True once `startTracing` has started the SDK. */
export const tracingEnabled = (): boolean => tracer !== undefined;

/** Whether this environment asks for tracing. */
export const tracingConfigured = (env: NodeJS.ProcessEnv = process.env): boolean =>
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) &&
  env.OTEL_SDK_DISABLED !== "true";

/**
 * Starts the OpenTelemetry SDK for this process when the environment asks for it; call it
 * first in a service's entry point (before its logger is made, so log lines carry trace ids).
 * Everything else comes from the standard variables: the OTLP endpoint, protocol (`http/protobuf`
 * by default, `http/json`, `grpc`) and headers, `OTEL_SERVICE_NAME` (default: `service`),
 * `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_RESOURCE_ATTRIBUTES`. Only traces are
 * exported: metrics stay Prometheus, logs stay pino on stdout.
 */
export async function startTracing(service: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (tracer) return true;
  if (!tracingConfigured(env)) return false;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const started = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || service,
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  started.start();
  sdk = started;
  tracer = trace.getTracer("@parley/kit");
  subscribeRedisCommands();
  return true;
}

/** Exports the spans still buffered and stops the SDK (the kit's shutdown does it last). */
export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  tracer = undefined;
  await running?.shutdown().catch(() => undefined);
}

/** `trace_id` and `span_id` of the active span, for log lines; empty outside a trace. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Header- or metadata-like carriers read by a getter. */
export type CarrierGetter<C> = (carrier: C, key: string) => string | undefined;

/** The trace context a caller sent (W3C `traceparent`), or the root when none. */
export function extractContext<C>(carrier: C, get: CarrierGetter<C>): Context {
  const getter: TextMapGetter<C> = {
    get: (c, key) => get(c, key),
    keys: () => ["traceparent", "tracestate"],
  };
  return propagation.extract(ROOT_CONTEXT, carrier, getter);
}

/** Writes the trace context of `ctx` (the active one by default) with `set`. */
export function injectContext(
  set: (key: string, value: string) => void,
  ctx: Context = context.active(),
): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/** A span this kit started, with the context to run its work in. */
export interface Traced {
  span: Span;
  context: Context;
}

/**
 * Starts a span (none while tracing is off) as a child of `parent` (the active context by
 * default). `requireParent` makes none unless a trace is already going on.
 */
export function startSpan(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context; requireParent?: boolean } = {},
): Traced | undefined {
  if (!tracer) return undefined;
  const parent = options.parent ?? context.active();
  if (options.requireParent && !trace.getSpan(parent)) return undefined;
  const span = tracer.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a span, marking it failed (with the error recorded) when `error` is given. */
export function endSpan(traced: Traced | undefined, error?: unknown, message?: string): void {
  // Ended already (or sampled out, where ending does nothing): once only.
  if (!traced?.span.isRecording()) return;
  if (error !== undefined) {
    if (error instanceof Error) traced.span.recordException(error);
    traced.span.setStatus({
      code: SpanStatusCode.ERROR,
      ...(message || error instanceof Error ? { message: message ?? (error as Error).message } : {}),
    });
  }
  traced.span.end();
}

/** Runs `fn` in the span's context (as is when there is no span). */
export function runTraced<T>(traced: Traced | undefined, fn: () => T): T {
  return traced ? context.with(traced.context, fn) : fn();
}

/** `fn` inside a new span that ends when it settles, failed if it throws. */
export async function withSpan<T>(
  name: string,
  options: Parameters<typeof startSpan>[1],
  fn: (traced: Traced | undefined) => Promise<T>,
): Promise<T> {
  const traced = startSpan(name, options);
  if (!traced) return fn(undefined);
  try {
    const result = await context.with(traced.context, () => fn(traced));
    endSpan(traced);
    return result;
  } catch (error) {
    endSpan(traced, error);
    throw error;
  }
}

export type { Context, Span };
export { SpanKind };

// ---- gRPC ----------------------------------------------------------------------------------

/** gRPC status codes that are the server's fault (the conventions mark server spans failed only for them). */
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]);

const rpcAttributes = (path: string): Attributes => {
  const [service = "", method = ""] = path.replace(/^\//, "").split("/");
  return { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method };
};

/**
 * A gRPC call made by this process: a CLIENT span named after the method, its context written
 * into the outgoing metadata with `set`. `end(code)` closes it with the call's status.
 * `requireParent`: none outside a trace (a long-lived stream opened by no request).
 */
export function startGrpcClientSpan(
  path: string,
  set: (key: string, value: string) => void,
  requireParent = false,
) {
  const traced = startSpan(path.replace(/^\//, ""), {
    kind: SpanKind.CLIENT,
    attributes: rpcAttributes(path),
    requireParent,
  });
  if (!traced) return undefined;
  injectContext(set, traced.context);
  return {
    traced,
    end(code: number, message?: string) {
      traced.span.setAttribute("rpc.grpc.status_code", code);
      if (code !== 0) traced.span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
      traced.span.end();
    },
  };
}

/** A gRPC call served by this process: a SERVER span, child of the caller's trace context. */
export function startGrpcServerSpan(path: string, get: (key: string) => string | undefined) {
  if (!tracer) return undefined;
  const parent = extractContext(undefined, (_carrier, key) => get(key));
  const traced = startSpan(path.replace(/^\//, ""), {
    kind: SpanKind.SERVER,
    attributes: rpcAttributes(path),
    parent,
  });
  if (!traced) return undefined;
  return {
    traced,
    end(code: number, message?: string) {
      traced.span.setAttribute("rpc.grpc.status_code", code);
      if (SERVER_FAULTS.has(code))
        traced.span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
      traced.span.end();
    },
  };
}

// ---- Outbox --------------------------------------------------------------------------------

/** Where an outbox payload keeps the trace context of the change that wrote it. */
export const TRACE_FIELD = "@trace";

/**
 * The payload to store in an outbox row: as is outside a trace, with the active trace context
 * under `@trace` inside one (object payloads only).
 */
export function withTraceContext<P>(payload: P): P {
  if (!tracer || typeof payload !== "object" || payload === null || Array.isArray(payload)) return payload;
  if (!trace.getSpan(context.active())) return payload;
  const carried: Record<string, string> = {};
  injectContext((key, value) => {
    carried[key] = value;
  });
  return Object.keys(carried).length === 0 ? payload : { ...payload, [TRACE_FIELD]: carried };
}

/**
 * Takes the trace context out of an outbox payload (the payload loses the field) and starts the
 * CONSUMER span of its delivery in that trace; none when the row was written outside a trace.
 */
export function startOutboxSpan(
  table: string,
  payload: unknown,
  attributes: Attributes = {},
): Traced | undefined {
  if (typeof payload !== "object" || payload === null || !(TRACE_FIELD in payload)) return undefined;
  const carried = (payload as Record<string, unknown>)[TRACE_FIELD] as Record<string, string> | undefined;
  delete (payload as Record<string, unknown>)[TRACE_FIELD];
  if (!tracer || !carried) return undefined;
  const parent = extractContext(carried, (c, key) => c[key]);
  return startSpan(`${table} deliver`, {
    kind: SpanKind.CONSUMER,
    parent,
    attributes: { "messaging.system": "parley-outbox", "messaging.destination.name": table, ...attributes },
  });
}

// ---- Postgres (postgres.js) ----------------------------------------------------------------

const instrumented = new WeakSet<object>();

interface PgQuery {
  executed: boolean;
  strings: readonly string[];
  resolve: (value: unknown) => unknown;
  reject: (error: unknown) => unknown;
  handle(): Promise<void>;
}

/**
 * Spans around every query of postgres.js pools, in one place: the Query class's `handle`,
 * which every query (tagged, `unsafe`, drizzle's, inside transactions) runs once when it
 * executes. `prototype` is a query's prototype (`Object.getPrototypeOf(sql\`select 1\``)`; the
 * query is not run). A span is made only inside a trace; the statement is recorded without
 * its parameters.
 */
export function instrumentPostgresQueries(prototype: object, dbName?: string): void {
  if (!tracer || instrumented.has(prototype)) return;
  instrumented.add(prototype);
  const proto = prototype as PgQuery;
  const handle = proto.handle;
  proto.handle = function (this: PgQuery) {
    if (!this.executed && tracer && trace.getSpan(context.active())) {
      const statement = this.strings.map((part, i) => (i === 0 ? part : `$${i}${part}`)).join("");
      const operation = /^\s*(\w+)/.exec(statement)?.[1]?.toUpperCase() ?? "QUERY";
      const traced = startSpan(`postgres ${operation}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "postgresql",
          "db.operation.name": operation,
          "db.query.text": statement.length > 2_000 ? `${statement.slice(0, 2_000)}…` : statement,
          ...(dbName ? { "db.namespace": dbName } : {}),
        },
      });
      const { resolve, reject } = this;
      this.resolve = (value) => {
        endSpan(traced);
        return resolve(value);
      };
      this.reject = (error) => {
        endSpan(traced, error);
        return reject(error);
      };
    }
    return handle.call(this);
  };
}

// ---- Redis (ioredis) -----------------------------------------------------------------------

interface RedisCommandContext {
  command: string;
  database?: number;
  serverAddress?: string;
  serverPort?: number;
  [SPAN]?: Traced;
}
const SPAN = Symbol("parley.span");

/**
 * Spans around Redis commands from ioredis's own tracing channel (`ioredis:command`, Node's
 * diagnostics_channel, published by ioredis 6 on the write path of every command): one
 * subscriber per process, made when tracing starts; nothing subscribes (and ioredis skips the
 * tracing) while it is off. Inside a trace only; the command's name is recorded, never its
 * arguments.
 */
function subscribeRedisCommands(): void {
  if (typeof diagnostics.tracingChannel !== "function") return;
  const channel = diagnostics.tracingChannel<unknown, RedisCommandContext>("ioredis:command");
  const finish = (ctx: RedisCommandContext, error?: unknown) => {
    const traced = ctx[SPAN];
    if (!traced) return;
    ctx[SPAN] = undefined;
    endSpan(traced, error);
  };
  channel.subscribe({
    start(ctx) {
      const operation = String(ctx.command).toUpperCase();
      const traced = startSpan(`redis ${operation}`, {
        kind: SpanKind.CLIENT,
        requireParent: true,
        attributes: {
          "db.system.name": "redis",
          "db.operation.name": operation,
          ...(ctx.database !== undefined ? { "db.namespace": String(ctx.database) } : {}),
          ...(ctx.serverAddress ? { "server.address": ctx.serverAddress } : {}),
          ...(ctx.serverPort ? { "server.port": ctx.serverPort } : {}),
        },
      });
      if (traced) ctx[SPAN] = traced;
    },
    end() {},
    asyncStart() {},
    asyncEnd(ctx) {
      finish(ctx);
    },
    error(ctx) {
      finish(ctx, (ctx as { error?: unknown }).error ?? new Error("redis command failed"));
    },
  });
}

// ---- HTTP ----------------------------------------------------------------------------------

/** An HTTP request served by the edge: a SERVER span in the caller's trace (if it sent one). */
export function startHttpServerSpan(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
): Traced | undefined {
  if (!tracer) return undefined;
  const parent = extractContext(headers, (h, key) => {
    const value = h[key];
    return Array.isArray(value) ? value[0] : value;
  });
  return startSpan(method, {
    kind: SpanKind.SERVER,
    parent,
    attributes: { "http.request.method": method, ...attributes },
  });
}
