import * as grpc from "@grpc/grpc-js";
import {
  clientChannelOptions,
  createHealthChecker,
  DEFAULT_MAX_MESSAGE_BYTES,
  type HealthChecker,
} from "@parley/kit/grpc";
import { startGrpcClientSpan, tracingEnabled } from "@parley/kit/tracing";
import { asGrpcMetadata, type UpstreamHeaders } from "./metadata";
import { createUnaryChannel, type UnaryChannel } from "./unary-channel";

export const UPSTREAM_NAMES = ["auth", "user", "session", "billing"] as const;
export type UpstreamName = (typeof UPSTREAM_NAMES)[number];

const passThrough = (value: Buffer) => value;

/**
 * The edge's connections to each service, carrying already-encoded protobuf bytes (the edge
 * transcodes JSON with the descriptors and never needs generated stubs). Unary calls, the
 * hot path, go over a lean HTTP/2 channel (unary-channel.ts); server streams (WatchSession)
 * over a grpc-js client; readiness over the standard health checking protocol. All are
 * long-lived and shared by every request.
 */
export function createUpstreams(addresses: Record<UpstreamName, string>) {
  const unaries = new Map<UpstreamName, UnaryChannel>();
  const streams = new Map<UpstreamName, grpc.Client>();
  const health = new Map<UpstreamName, HealthChecker>();
  for (const name of UPSTREAM_NAMES) {
    unaries.set(name, createUnaryChannel(addresses[name], DEFAULT_MAX_MESSAGE_BYTES));
    streams.set(
      name,
      new grpc.Client(addresses[name], grpc.credentials.createInsecure(), {
        ...clientChannelOptions(DEFAULT_MAX_MESSAGE_BYTES),
        "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      }),
    );
    health.set(name, createHealthChecker(addresses[name]));
  }

  return {
    unary(name: UpstreamName, path: string, request: Buffer, headers: UpstreamHeaders, deadlineMs: number) {
      const channel = unaries.get(name)!;
      // Tracing off (the usual case): no span to name, nothing to inject.
      if (!tracingEnabled()) return channel.call(path, request, headers, deadlineMs);
      // While tracing is on: a CLIENT span in the active trace, its context sent as `traceparent`.
      const span = startGrpcClientSpan(path, (key, value) => {
        headers[key] = value;
      });
      const call = channel.call(path, request, headers, deadlineMs);
      if (!span) return call;
      return call.then(
        (response) => {
          span.end(grpc.status.OK);
          return response;
        },
        (error: grpc.ServiceError) => {
          span.end(error.code, error.details);
          throw error;
        },
      );
    },
    serverStream(name: UpstreamName, path: string, request: Buffer, headers: UpstreamHeaders) {
      const span = startGrpcClientSpan(
        path,
        (key, value) => {
          headers[key] = value;
        },
        true,
      );
      const call = streams
        .get(name)!
        .makeServerStreamRequest(path, passThrough, passThrough, request, asGrpcMetadata(headers));
      if (span) {
        call.once("status", (status: grpc.StatusObject) => span.end(status.code, status.details));
      }
      return call;
    },
    /** Every upstream's gRPC health; false for any that is down or not serving. */
    async ready(): Promise<Record<UpstreamName, boolean>> {
      const entries = await Promise.all(
        UPSTREAM_NAMES.map(async (name) => {
          try {
            return [name, (await health.get(name)!.check("", 1_000)) === "SERVING"] as const;
          } catch {
            return [name, false] as const;
          }
        }),
      );
      return Object.fromEntries(entries) as Record<UpstreamName, boolean>;
    },
    close() {
      for (const u of unaries.values()) u.close();
      for (const c of streams.values()) c.close();
      for (const h of health.values()) h.close();
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
