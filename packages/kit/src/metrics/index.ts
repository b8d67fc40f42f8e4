import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Sql } from "../db";

export { Gauge, Histogram, Registry };

export interface ServiceMetrics {
  registry: Registry;
  /** Every handled unary or client-streaming call: service, method and status code. */
  grpcHandled: Histogram<"method" | "code">;
  /** Every server stream's lifetime. */
  grpcStreamed: Histogram<"method" | "code">;
}

export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const grpcHandled = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time to handle a gRPC call, by method and status code",
    labelNames: ["method", "code"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // Server streams (WatchSession) live for minutes: their lifetimes get buckets of their own,
  // so they never skew call latency.
  const grpcStreamed = new Histogram({
    name: "grpc_server_stream_seconds",
    help: "Lifetime of a gRPC server stream, by method and status code",
    labelNames: ["method", "code"],
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200],
    registers: [registry],
  });
  return { registry, grpcHandled, grpcStreamed };
}

/** A tiny HTTP server answering GET /metrics in the Prometheus text format. */
export async function serveMetrics(registry: Registry, port: number, host = "0.0.0.0"): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

export interface DatabaseGauge {
  help: string;
  /** One row with a numeric `value` column (null reads as 0), e.g. the age of the oldest due row. */
  query: string;
}

/**
 * Gauges read from the database when Prometheus scrapes, never on a request's path: metering
 * lag, outbox backlogs. Give them a pool of their own (one connection), so a slow scrape never
 * takes a connection from the service's work. A query that fails leaves its gauge at the last
 * value read (a database outage shows in gRPC health and readiness instead).
 */
export function registerDatabaseGauges(
  registry: Registry,
  sql: Sql,
  gauges: Record<string, DatabaseGauge>,
): void {
  for (const [name, { help, query }] of Object.entries(gauges))
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const rows = await sql.unsafe<Array<{ value: string | number | null }>>(query).catch(() => undefined);
        if (rows) this.set(Number(rows[0]?.value ?? 0));
      },
    });
}
