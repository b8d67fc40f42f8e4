import { createGrpcServer, type GrpcServer, type GrpcServerOptions } from "@parley/kit/grpc";
import { createLogger } from "@parley/kit/log";
import type { Test } from "tap";

export interface StartedServer {
  server: GrpcServer;
  port: number;
  /** "127.0.0.1:<port>", ready for createServiceClient. */
  address: string;
}

/**
 * Starts a kit server on a free loopback port for one test; it is shut down when the test
 * ends. Logs are silent unless TEST_LOG_LEVEL is set.
 */
export async function startTestServer(
  t: Test,
  options: Omit<GrpcServerOptions, "log"> & Partial<Pick<GrpcServerOptions, "log">>,
): Promise<StartedServer> {
  const log =
    options.log ?? createLogger({ service: options.name, level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const server = createGrpcServer({ ...options, log });
  const port = await server.listen("127.0.0.1:0");
  t.teardown(() => server.shutdown(1_000));
  return { server, port, address: `127.0.0.1:${port}` };
}
