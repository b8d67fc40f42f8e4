import * as grpc from "@grpc/grpc-js";
import {
  clientChannelOptions,
  createHealthChecker,
  DEFAULT_MAX_MESSAGE_BYTES,
  type HealthChecker,
} from "@parley/kit/grpc";

export const UPSTREAM_NAMES = ["auth", "user", "session", "billing"] as const;
export type UpstreamName = (typeof UPSTREAM_NAMES)[number];

const passThrough = (value: Buffer) => value;

/**
 * One long-lived channel per upstream service, carrying already-encoded protobuf bytes: the
 * edge transcodes JSON with the descriptors and never needs generated stubs. Channels are
 * reused by every request (the gRPC hop is the edge's main cost).
 */
export function createUpstreams(addresses: Record<UpstreamName, string>) {
  const clients = new Map<UpstreamName, grpc.Client>();
  const health = new Map<UpstreamName, HealthChecker>();
  for (const name of UPSTREAM_NAMES) {
    clients.set(
      name,
      new grpc.Client(addresses[name], grpc.credentials.createInsecure(), {
        ...clientChannelOptions(DEFAULT_MAX_MESSAGE_BYTES),
        "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      }),
    );
    health.set(name, createHealthChecker(addresses[name]));
  }
  const client = (name: UpstreamName) => clients.get(name)!;

  return {
    unary(name: UpstreamName, path: string, request: Buffer, metadata: grpc.Metadata, deadlineMs: number) {
      return new Promise<Buffer>((resolve, reject) => {
        client(name).makeUnaryRequest(
          path,
          passThrough,
          passThrough,
          request,
          metadata,
          { deadline: Date.now() + deadlineMs },
          (error, response) => (error ? reject(error) : resolve(response!)),
        );
      });
    },
    serverStream(name: UpstreamName, path: string, request: Buffer, metadata: grpc.Metadata) {
      return client(name).makeServerStreamRequest(path, passThrough, passThrough, request, metadata);
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
      for (const c of clients.values()) c.close();
      for (const h of health.values()) h.close();
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
