// The kit's gRPC tests' one set-up: a kit-built BillingService server (fixtures/wallet-server.ts)
// listening on a free port, and a generated client of it, both stopped with the test.
import { createServiceClient } from "@parley/kit/grpc";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import type { Test } from "tap";
import { testServer } from "./fixtures/wallet-server";

export async function startWalletServer(t: Test, options: Parameters<typeof testServer>[0] = {}) {
  const server = testServer(options);
  const port = await server.listen("127.0.0.1:0");
  t.teardown(() => server.shutdown(1_000));
  const address = `127.0.0.1:${port}`;
  const client = createServiceClient(BillingServiceService, { address });
  t.teardown(() => client.close());
  return { server, address, client };
}
