import * as grpc from "@grpc/grpc-js";
import { service as healthService, type ServingStatus } from "grpc-health-check";

export type { ServingStatus };

const HealthClient = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, "Health");

export interface HealthChecker {
  /** The status a server reports for `service` ("" = the whole server); rejects when unreachable. */
  check(service?: string, deadlineMs?: number): Promise<ServingStatus>;
  close(): void;
}

/** A client of the standard gRPC health checking protocol, on one reused channel. */
export function createHealthChecker(address: string): HealthChecker {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  return {
    check: (service = "", deadlineMs = 2_000) =>
      new Promise((resolve, reject) => {
        client.Check!(
          { service },
          { deadline: Date.now() + deadlineMs },
          (error: grpc.ServiceError | null, response: { status: ServingStatus }) =>
            error ? reject(error) : resolve(response.status),
        );
      }),
    close: () => client.close(),
  };
}
