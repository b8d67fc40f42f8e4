import { setMaxListeners } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { descriptorSetBytes } from "@parley/proto/descriptors";
import { HealthImplementation } from "grpc-health-check";
import type { Authenticator } from "../auth/authenticator";
import { authorize, type Permission } from "../auth/permissions";
import { BACK_OFFICE_ROLES, type Principal } from "../auth/principal";
import { isAppError, toGrpcStatus, unavailable } from "../errors";
import { isUuid, newId } from "../ids";
import type { Logger } from "../log";
import type { ServiceMetrics } from "../metrics";
import { requireReason } from "../staff-reason";
import { runTraced, startGrpcServerSpan } from "../tracing";
import { type CallContext, runInContext } from "./context";
import {
  type Handlers,
  type RequestOf,
  type ResponseOf,
  type ServiceDefinitionLike,
  splitPath,
} from "./method-types";
import { DEFAULT_MAX_MESSAGE_BYTES, serverChannelOptions } from "./options";
import { createReflection } from "./reflection";
import { type RelayedMethod, relayService, type SurfaceCall, type UnaryImplementation } from "./relay";
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

/** The request fields of type string: where a staff member's reason can be. */
type TextField<T> = { [F in keyof T]-?: T[F] extends string ? F : never }[keyof T] & string;

/**
 * One staff RPC audited by the kit server (`staffActions`): the action it records, and where
 * the reason and the person acted on are.
 */
export interface StaffAction<Req = unknown, Res = unknown> {
  /** "session.end" */
  action: string;
  /**
   * The request field holding the staff member's reason ("note"): a blank one, or one over
   * 1,000 characters, is refused (the kit's requireReason: INVALID_ARGUMENT REASON_REQUIRED)
   * before the handler runs. Unset: the request's `note` or `reason` text is recorded when
   * there is one, and none is required.
   */
  reason?: TextField<Req>;
  /**
   * The person acted on, from the request or the answer (the answer is absent for a refused
   * call). Unset: the request's `user_id`, else its `expert_user_id`.
   */
  target?(request: Req, response: Res | undefined): string | undefined;
  /** True when the call is on the caller's own account (their own profile): not a staff action. */
  own?(request: Req, callerId: string): boolean;
}

/**
 * A service's audited staff RPCs keyed by method path, from a map by handler name typed by the
 * generated definition (`staffActionsOf(SafetyServiceService, { hideReview: {...} })`).
 */
export function staffActionsOf<D extends ServiceDefinitionLike>(
  definition: D,
  actions: { [K in keyof D]?: StaffAction<RequestOf<D[K]>, ResponseOf<D[K]>> },
): Readonly<Record<string, StaffAction>> {
  return Object.fromEntries(
    Object.entries(actions).map(([key, action]) => [definition[key]!.path.slice(1), action as StaffAction]),
  );
}

/** One audited staff call as the recorder gets it. */
export interface StaffActionEvent {
  action: string;
  /** A UUID, or "" when the call names nobody. */
  targetUserId: string;
  reason: string;
  request: unknown;
  /** Done, or refused by the permission map (nothing was done). */
  outcome: "done" | "denied";
}

/** Writes one audited staff call to auth's audit log (the kit's staffActionRecorder). */
export type StaffActionRecorder = (ctx: CallContext, event: StaffActionEvent) => Promise<void>;

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
   * /readyz and load balancers see it), and SERVING again once every check passes. A check that
   * only timed out (an error with `timedOut`: a pool busy with the service's own load queues the
   * ping) counts after SLOW_ROUNDS rounds in a row, so a burst of load does not take every
   * instance out of rotation at once.
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
   * Staff actions audited in one place, by method path (staffActionsOf). When a staff member
   * (any role but user and expert) calls one on someone else, its reason is checked before the
   * handler runs, and once it succeeds `recordStaffAction` puts it in auth's audit log before
   * the answer is sent. If it cannot, the caller gets UNAVAILABLE AUDIT_UNAVAILABLE instead of
   * OK: these RPCs are idempotent (by request id, or by the state they set), so the retry does
   * nothing twice and records it then. A signed-in person the permission map refuses one of
   * them, or any RPC only staff may call (a staff-only read, recorded by its RPC name), is
   * recorded as denied (a failure to record that is logged; the call is refused either way).
   */
  staffActions?: Readonly<Record<string, StaffAction>>;
  /** Unset (TRUSTED_JWKS: no auth to ask), staff actions are not recorded, and the log says so at start. */
  recordStaffAction?: StaffActionRecorder;
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
  if (options.staffActions && !options.recordStaffAction)
    options.log.warn(
      "no staff-action recorder (TRUSTED_JWKS): staff actions are not recorded in auth's audit log",
    );

  const begin = async (
    call: SurfaceCall,
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
    // The child logger (pino redacts its bindings as it makes one) and the abort signal (grpc-js
    // reports every call's end as "cancelled": an AbortError built per call) cost a third of a
    // simple call's CPU, so each is made when the call first uses it: most calls never do.
    let log: Logger | undefined;
    let controller: AbortController | undefined;
    const context: CallContext = {
      requestId,
      get log() {
        log ??= options.log.child({ requestId, method: path });
        return log;
      },
      principal: { kind: "anonymous" },
      method: path.slice(1),
      metadata: incoming,
      peer: call.getPeer(),
      get signal() {
        if (!controller) {
          const made = new AbortController();
          controller = made;
          const abort = () => made.abort();
          if (call.cancelled || shuttingDown.signal.aborted) abort();
          else {
            call.once("cancelled", abort);
            shuttingDown.signal.addEventListener("abort", abort, { once: true });
            made.signal.addEventListener(
              "abort",
              () => shuttingDown.signal.removeEventListener("abort", abort),
              { once: true },
            );
          }
        }
        return controller.signal;
      },
    };
    context.principal = await options.authenticate(incoming);
    try {
      authorize(permission, context.principal);
    } catch (error) {
      // A staff RPC refused: an audited action, or a staff-only read (recorded by its RPC name).
      const audited =
        options.staffActions?.[context.method] ??
        (isStaffOnly(permission) ? { action: splitPath(path).method } : undefined);
      if (context.principal.kind === "user")
        await Promise.all([
          options.onDenied?.(context, request),
          audited &&
            options.recordStaffAction?.(context, staffActionEvent(audited, request, undefined, "denied")),
        ]).catch((failure: unknown) =>
          context.log.error({ err: failure }, "recording a refused call failed"),
        );
      throw error;
    }
    return context;
  };

  /** Access log, metrics, the call's span (while tracing is on) and error translation around one call. */
  const run = (
    call: SurfaceCall,
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
    call: SurfaceCall,
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
      if (options.log.isLevelEnabled("debug")) ctx.log.debug({ grpcCode: "OK", ms: seconds * 1000 }, "call");
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

  const relayed = new Map<string, RelayedMethod>();
  for (const binding of options.services) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, method] of Object.entries(binding.definition)) {
      const handler = binding.handlers[key] as (...args: unknown[]) => Promise<unknown>;
      const permission = Object.hasOwn(binding.permissions, key) ? binding.permissions[key] : undefined;
      if (!method.requestStream && !method.responseStream) {
        const serveUnary: UnaryImplementation = (call, callback) => {
          const audited = options.staffActions?.[method.path.slice(1)];
          const body = async (ctx: CallContext) => {
            refuseControlCharacters(call.request);
            const staff = audited && actsAsStaff(ctx.principal, audited, call.request) ? audited : undefined;
            if (staff?.reason) requireReason(textOf(call.request, staff.reason), staff.reason);
            const result = await handler(call.request, ctx);
            const record = options.recordStaffAction;
            if (staff && record)
              await record(ctx, staffActionEvent(staff, call.request, result, "done")).catch(
                (failure: unknown) => {
                  ctx.log.error({ err: failure, action: staff.action }, "recording a staff action failed");
                  throw unavailable("AUDIT_UNAVAILABLE", "the action could not be audited; send it again", {
                    retryAfterSeconds: 1,
                    cause: failure,
                  });
                },
              );
            return result;
          };
          void run(call, method.path, permission, body).then((outcome) =>
            outcome.ok ? callback(null, outcome.result) : callback(outcome.error),
          );
        };
        implementation[key] = serveUnary;
        relayed.set(method.path, {
          decode: method.requestDeserialize,
          encode: method.responseSerialize as (value: unknown) => Buffer,
          serve: serveUnary,
        });
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

  const relay = relayService(relayed, shuttingDown.signal, maxMessageBytes, options.log);
  server.addService(relay.definition, relay.implementation);
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

/** An RPC only staff may call: people with staff roles, and nobody else. */
function isStaffOnly(permission: Permission | undefined): boolean {
  const roles = permission?.roles ?? [];
  return (
    roles.length > 0 &&
    roles.every((role) => BACK_OFFICE_ROLES.includes(role)) &&
    !permission?.anonymous &&
    !permission?.services?.length &&
    !permission?.partnerScopes?.length
  );
}

/** A staff member (moderators included) calling an audited RPC on someone else. */
function actsAsStaff(principal: Principal, action: StaffAction, request: unknown): boolean {
  return (
    principal.kind === "user" &&
    BACK_OFFICE_ROLES.includes(principal.role) &&
    !action.own?.(request, principal.userId)
  );
}

const textOf = (request: unknown, field: string): string => {
  const value = (request as Record<string, unknown> | undefined)?.[field];
  return typeof value === "string" ? value : "";
};

/** The record of one audited call: its target (a UUID, or nobody) and reason, found as `action` says. */
function staffActionEvent(
  action: StaffAction,
  request: unknown,
  response: unknown,
  outcome: StaffActionEvent["outcome"],
): StaffActionEvent {
  const target = action.target
    ? action.target(request, response)
    : textOf(request, "userId") || textOf(request, "expertUserId");
  return {
    action: action.action,
    targetUserId: target && isUuid(target) ? target : "",
    reason: action.reason
      ? textOf(request, action.reason).trim()
      : textOf(request, "note") || textOf(request, "reason"),
    request,
    outcome,
  };
}

/** Rounds in a row a readiness check may only time out before health says NOT_SERVING. */
const SLOW_ROUNDS = 3;

/**
 * Runs the readiness checks every interval (a round still running skips a tick) and reports
 * the outcome through `setHealth` on every change, logging each change once.
 */
function watchReadiness(options: GrpcServerOptions, setHealth: (status: "SERVING" | "NOT_SERVING") => void) {
  const checks = options.readiness ?? [];
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let ready = true;
  let slowRounds = 0;
  const check = async () => {
    const failures = (await Promise.allSettled(checks.map((c) => c()))).filter(
      (outcome): outcome is PromiseRejectedResult => outcome.status === "rejected",
    );
    if (!timer) return;
    const slowOnly =
      failures.length > 0 && failures.every((f) => (f.reason as { timedOut?: boolean })?.timedOut === true);
    slowRounds = slowOnly ? slowRounds + 1 : 0;
    if (slowOnly && slowRounds < SLOW_ROUNDS) return;
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
