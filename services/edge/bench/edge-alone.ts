// An edge built in this process from the checkout at `root` (its own sources and packages), as
// main.ts builds it (its access log in batches), before one constant gRPC upstream for
// billing: what profile.ts and ab.ts measure. The upstream (constant-upstream.ts) is its own
// process, answering every call with GetWallet's answer below.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";

const WALLET = {
  wallet: {
    user_id: "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000",
    balance: { amount_minor: "9999400", currency: "INR" },
    held: { amount_minor: "600", currency: "INR" },
    available: { amount_minor: "9998800", currency: "INR" },
    minutes_left: "0",
    frozen: false,
  },
};

/** The constant upstream, started from `root`'s bench; resolves with its process and address. */
export async function startConstantUpstream(root: string): Promise<{ child: ChildProcess; address: string }> {
  const { loadCatalogue } = await import(path.join(root, "services/edge/src/http/catalogue.ts"));
  const { encodeJson } = await import(path.join(root, "services/edge/src/http/transcode.ts"));
  const { registry } = loadCatalogue();
  const answer = encodeJson(registry.getMessage("parley.billing.v1.GetWalletResponse"), WALLET, registry);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(root, "services/edge/bench/constant-upstream.ts"),
      answer.toString("base64"),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once("line", resolve),
  );
  return { child, address: `127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
}

/**
 * `root`'s access log as its main.ts makes it, writing to /dev/null: its own batched writer
 * (src/access-log.ts), or in checkouts before that a pino logger in 4 KiB batches.
 */
async function accessLogOf(root: string) {
  const dest = "/dev/null";
  const own = path.join(root, "services/edge/src/access-log.ts");
  const pino = (await import(path.join(root, "node_modules/.pnpm/node_modules/pino/pino.js"))).default;
  if (existsSync(own)) {
    const { createAccessLog } = await import(own);
    return createAccessLog({
      service: "edge",
      level: "info",
      destination: pino.destination({ dest, sync: false }),
    });
  }
  const { createLogger } = await import(path.join(root, "packages/kit/src/log/index.ts"));
  return createLogger({
    service: "edge",
    redact: false,
    destination: pino.destination({ dest, sync: false, minLength: 4096 }),
  });
}

/** The edge of `root`, listening on a free port; `url` is GET /v1/me/wallet, `token` a user's. */
export async function startEdgeAlone(root: string, billingAddress: string) {
  const from = (file: string) => import(path.join(root, file));
  const { parseConfig } = await from("packages/kit/src/config/index.ts");
  const { createLogger } = await from("packages/kit/src/log/index.ts");
  const { createMetrics } = await from("packages/kit/src/metrics/index.ts");
  const { createTestIssuer } = await from("packages/testing/src/index.ts");
  const { edgeConfigShape } = await from("services/edge/src/config.ts");
  const { buildEdge } = await from("services/edge/src/server.ts");
  const issuer = await createTestIssuer();
  const nowhere = "127.0.0.1:1";
  const edge = await buildEdge({
    config: parseConfig(edgeConfigShape, {
      HTTP_PORT: "0",
      HTTP_HOST: "127.0.0.1",
      JWT_ISSUER: issuer.issuer,
      JWT_AUDIENCE: issuer.audience,
      AUTH_ADDRESS: nowhere,
      USER_ADDRESS: nowhere,
      SESSION_ADDRESS: nowhere,
      BILLING_ADDRESS: billingAddress,
      RATE_LIMIT_PER_MINUTE: "1000000000",
    }),
    log: createLogger({ service: "edge", destination: new Writable({ write: (_c, _e, done) => done() }) }),
    accessLog: await accessLogOf(root),
    metrics: createMetrics("edge").registry,
    identity: {
      verifier: issuer.verifier,
      credentials: () => issuer.serviceToken("edge"),
      jwks: async () => issuer.jwks,
    },
  });
  await edge.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = edge.app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/me/wallet`,
    token: (await issuer.userToken()) as string,
    close: () => edge.close() as Promise<void>,
  };
}
