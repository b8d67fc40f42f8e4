import { setMaxListeners } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call";
import { descriptorSetBytes } from "@parley/proto/descriptors";
import { HealthImplementation } from "grpc-health-check";
import type { Authenticator } from "../auth/authenticator";
import { authorize, type Permission } from "../auth/permissions";
import { isAppError, toGrpcStatus, unavailable } from "../errors";
import { newId } from "../ids";
import type { Logger } from "../log";
import type { ServiceMetrics } from "../metrics";
import { runTraced, startGrpcServerSpan } from "../tracing";
import { type CallContext, runInContext } from "./context";
import { type Handlers, type ServiceDefinitionLike, splitPath } from "./method-types";
import { DEFAULT_MAX_MESSAGE_BYTES, serverChannelOptions } from "./options";
import { createReflection } from "./reflection";
import { checkedStream, refuseControlCharacters } from "./text";

/** One service ready to be served: generated definition, async handlers, permission map. */
export interface ServiceBinding {
  name: string;
  definition: ServiceDefinitionLike;
  handlers: Record<string, (...args: never[]) => Promise<unknown>>;
  permissions: Record<string, Permission | undefined>;
}

/**
 * Pairs a generated service definition with its handlers and its permission map. The map
 * must name every RPC (the type says so); at run time an RPC missing from it is denied.
 */
export function bindService<D extends ServiceDefinitionLike>(
  definition: D,
  handlers: Handlers<D>,
  permissions: { [K in keyof D]: Permission },
): ServiceBinding {
  const first = Object.values(definition)[0];
  return {
    name: first ? splitPath(first.path).service : "",
    definition,
    handlers: handlers as ServiceBinding["handlers"],
    permissions,
  };
}

export interface GrpcServerOptions {
  /** Short service name ("billing"): log name and ErrorInfo domain ("billing.parley"). */
  name: string;
  log: Logger;
  services: ServiceBinding[];
  authenticate: Authenticator;
  metrics?: ServiceMetrics;
  maxMessageBytes?: number;
  /** Run after the server has drained, in order: close pools, stop workers. */
  onShutdown?: Array<() => Promise<void>>;
  /**
   * What the service cannot serve without (its database: `database.ping`), checked every
   * `readinessIntervalMs`: while a check fails, gRPC health reports NOT_SERVING (so the edge's
   * /readyz and load balancers see it), and SERVING again once every check passes.
   */
  readiness?: Array<() => Promise<void>>;
  readinessIntervalMs?: number;
  /**
   * Called when the permission map refuses a signed-in person (PERMISSION_DENIED), with the
   * call's context and request, before the refusal is sent: auth records refused staff
   * attempts in its audit log here. A failure is logged; the call is refused either way.
   */
  onDenied?: (ctx: CallContext, request: unknown) => Promise<void>;
  /**
   * Staff actions audited in one place: when a signed-in person's call of one of `actions`'
   * methods ("parley.billing.v1.BillingService/GrantCredit" → "wallet.grant_credit") succeeds,
   * `record` puts it in auth's audit log before the answer is sent. If it cannot, the caller
   * gets UNAVAILABLE AUDIT_UNAVAILABLE instead of OK: these RPCs are idempotent by request id,
   * so the retry does nothing twice and records it then.
   */
  staffActions?: {
    actions: Readonly<Record<string, string>>;
    record: (ctx: CallContext, action: string, request: unknown) => Promise<void>;
  };
}

export interface GrpcServer {
  /** Binds and starts; returns the port (use "127.0.0.1:0" in tests for a free one). */
  listen(address: string): Promise<number>;
  /**
   * Stops accepting calls, lets in-flight unary calls finish within `graceMs` (then
   * cancels what is left), ends open streams so clients reconnect elsewhere, and runs
   * the onShutdown hooks.
   */
  shutdown(graceMs?: number): Promise<void>;
  readonly grpcServer: grpc.Server;
}

type AnyCall = ServerSurfaceCall;

/** Resolves when a full stream can take more, or when the call is gone (it never drains then). */
function drainedOrGone(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const events = ["drain", "close", "cancelled", "error"] as const;
    const done = () => {
      for (const event of events) call.off(event, done);
      resolve();
    };
    for (const event of events) call.once(event, done);
  });
}

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new grpc.Server(serverChannelOptions(maxMessageBytes));
  const domain = `${options.name}.parley`;
  const serviceNames = options.services.map((s) => s.name);
  const health = new HealthImplementation(
    Object.fromEntries(["", ...serviceNames].map((name) => [name, "NOT_SERVING" as const])),
  );
  const shuttingDown = new AbortController();
  // Every open call listens for shutdown; hundreds of watch streams are normal, not a leak.
  setMaxListeners(0, shuttingDown.signal);
  const setHealth = (status: "SERVING" | "NOT_SERVING") => {
    for (const name of ["", ...serviceNames]) health.setStatus(name, status);
  };
  const readiness = watchReadiness(options, setHealth);

  const begin = async (
    call: AnyCall,
    path: string,
    permission: Permission | undefined,
  ): Promise<CallContext> => {
    const request = (call as { request?: unknown }).request;
    const incoming = call.metadata;
    const requestIdHeader = incoming.get("x-request-id")[0];
    const requestId =
      typeof requestIdHeader === "string" && /^[\w.:-]{1,128}$/.test(requestIdHeader)
        ? requestIdHeader
        : newId();
    const response = new grpc.Metadata();
    response.set("x-request-id", requestId);
    call.sendMetadata(response);
    const controller = new AbortController();
    const abort = () => controller.abort();
    call.once("cancelled", abort);
    shuttingDown.signal.addEventListener("abort", abort, { once: true });
    controller.signal.addEventListener(
      "abort",
      () => shuttingDown.signal.removeEventListener("abort", abort),
      {
        once: true,
      },
    );
    const context: CallContext = {
      requestId,
      log: options.log.child({ requestId, method: path }),
      principal: { kind: "anonymous" },
      method: path.slice(1),
      metadata: incoming,
      peer: call.getPeer(),
      signal: controller.signal,
    };
    context.principal = await options.authenticate(incoming);
    try {
      authorize(permission, context.principal);
    } catch (error) {
      if (options.onDenied && context.principal.kind === "user")
        await options
          .onDenied(context, request)
          .catch((failure: unknown) =>
            context.log.error({ err: failure }, "recording a refused call failed"),
          );
      throw error;
    }
    return context;
  };

  /** Access log, metrics, the call's span (while tracing is on) and error translation around one call. */
  const run = (
    call: AnyCall,
    path: string,
    permission: Permission | undefined,
    body: (ctx: CallContext) => Promise<unknown>,
    streamed = false,
  ) => {
    const span = startGrpcServerSpan(path, (key) => {
      const value = call.metadata.get(key)[0];
      return typeof value === "string" ? value : undefined;
    });
    return runTraced(span?.traced, () => serve(call, path, permission, body, streamed, span));
  };

  const serve = async (
    call: AnyCall,
    path: string,
    permission: Permission | undefined,
    body: (ctx: CallContext) => Promise<unknown>,
    streamed: boolean,
    span: ReturnType<typeof startGrpcServerSpan>,
  ) => {
    const started = process.hrtime.bigint();
    let context: CallContext | undefined;
    const finish = (code: grpc.status, message?: string) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const histogram = streamed ? options.metrics?.grpcStreamed : options.metrics?.grpcHandled;
      histogram?.observe({ method: path, code: grpc.status[code] }, seconds);
      if (span) {
        if (context) span.traced.span.setAttribute("parley.request_id", context.requestId);
        span.end(code, message);
      }
      return seconds;
    };
    try {
      context = await begin(call, path, permission);
      const ctx = context;
      const result = await runInContext(ctx, () => body(ctx));
      const seconds = finish(grpc.status.OK);
      ctx.log.debug({ grpcCode: "OK", ms: seconds * 1000 }, "call");
      return { ok: true as const, result };
    } catch (error) {
      const translated = toGrpcStatus(error, domain);
      const seconds = finish(translated.code, translated.reason);
      const log = context?.log ?? options.log.child({ method: path });
      log[translated.logLevel](
        {
          grpcCode: grpc.status[translated.code],
          reason: translated.reason,
          ms: seconds * 1000,
          // Unexpected errors, and infrastructure ones translated to a status (a lost database
          // connection), keep their cause in the log; the caller only gets the status.
          ...(translated.logLevel === "error" || !isAppError(error) ? { err: error } : {}),
        },
        "call failed",
      );
      return {
        ok: false as const,
        error: { code: translated.code, details: translated.details, metadata: translated.metadata },
      };
    }
  };

  for (const binding of options.services) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, method] of Object.entries(binding.definition)) {
      const handler = binding.handlers[key] as (...args: unknown[]) => Promise<unknown>;
      const permission = Object.hasOwn(binding.permissions, key) ? binding.permissions[key] : undefined;
      if (!method.requestStream && !method.responseStream) {
        implementation[key] = (
          call: grpc.ServerUnaryCall<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          const audited = options.staffActions?.actions[method.path.slice(1)];
          const body = async (ctx: CallContext) => {
            refuseControlCharacters(call.request);
            const result = await handler(call.request, ctx);
            if (audited && options.staffActions && ctx.principal.kind === "user")
              await options.staffActions.record(ctx, audited, call.request).catch((failure: unknown) => {
                ctx.log.error({ err: failure, action: audited }, "recording a staff action failed");
                throw unavailable("AUDIT_UNAVAILABLE", "the action could not be audited; send it again", {
                  retryAfterSeconds: 1,
                  cause: failure,
                });
              });
            return result;
          };
          void run(call, method.path, permission, body).then((outcome) =>
            outcome.ok ? callback(null, outcome.result) : callback(outcome.error),
          );
        };
      } else if (method.responseStream && !method.requestStream) {
        implementation[key] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const closed = () => call.cancelled || call.destroyed || call.writableEnded;
          const stream = {
            async write(message: unknown) {
              if (closed()) throw new Error("stream closed");
              // A cancelled call never drains: wait for whichever comes first.
              if (!call.write(message)) await drainedOrGone(call);
            },
          };
          const body = async (ctx: CallContext) => {
            refuseControlCharacters(call.request);
            await handler(call.request, ctx, stream);
            // Ended by shutdown, not finished: UNAVAILABLE tells the client to reconnect and resume.
            if (shuttingDown.signal.aborted) throw unavailable("SHUTTING_DOWN", "the server is restarting");
          };
          void run(call, method.path, permission, body, true).then((outcome) => {
            if (closed()) return;
            if (outcome.ok) call.end();
            else call.emit("error", outcome.error);
          });
        };
      } else if (method.requestStream && !method.responseStream) {
        implementation[key] = (
          call: grpc.ServerReadableStream<unknown, unknown>,
          callback: grpc.sendUnaryData<unknown>,
        ) => {
          void run(call, method.path, permission, (ctx) => handler(checkedStream(call), ctx)).then(
            (outcome) => (outcome.ok ? callback(null, outcome.result) : callback(outcome.error)),
          );
        };
      } else {
        throw new Error(`${method.path}: bidirectional streaming is not used in Parley`);
      }
    }
    server.addService(binding.definition as unknown as grpc.ServiceDefinition, implementation);
  }

  health.addToServer(server);
  createReflection(descriptorSetBytes, serviceNames).addToServer(server);

  return {
    grpcServer: server,
    async listen(address) {
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
          error ? reject(error) : resolve(boundPort),
        ),
      );
      setHealth("SERVING");
      readiness.start();
      options.log.info({ address: address.replace(/:0$/, `:${port}`) }, "gRPC server listening");
      return port;
    },
    async shutdown(graceMs = 10_000) {
      await readiness.stop();
      setHealth("NOT_SERVING");
      shuttingDown.abort();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const hook of options.onShutdown ?? []) await hook();
      options.log.info("gRPC server stopped");
    },
  };
}

/**
 * Runs the readiness checks every interval (a round still running skips a tick) and reports
 * the outcome through `setHealth` on every change, logging each change once.
 */
function watchReadiness(options: GrpcServerOptions, setHealth: (status: "SERVING" | "NOT_SERVING") => void) {
  const checks = options.readiness ?? [];
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let ready = true;
  const check = async () => {
    const failures = (await Promise.allSettled(checks.map((c) => c()))).filter(
      (outcome): outcome is PromiseRejectedResult => outcome.status === "rejected",
    );
    if (!timer) return;
    if (failures.length > 0 && ready) {
      options.log.warn(
        { err: failures[0]!.reason },
        "not ready: a dependency is unreachable; health NOT_SERVING",
      );
      setHealth("NOT_SERVING");
    } else if (failures.length === 0 && !ready) {
      options.log.info("ready again; health SERVING");
      setHealth("SERVING");
    }
    ready = failures.length === 0;
  };
  return {
    start() {
      if (checks.length === 0) return;
      timer = setInterval(() => {
        round ??= check().finally(() => {
          round = undefined;
        });
      }, options.readinessIntervalMs ?? 2_000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await round;
    },
  };
}
