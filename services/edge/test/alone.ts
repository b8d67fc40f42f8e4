import { Writable } from "node:stream";
import { createRevocationList, type RevocationList } from "@parley/kit/auth";
import { parseConfig } from "@parley/kit/config";
import { createLogger } from "@parley/kit/log";
import { createMetrics } from "@parley/kit/metrics";
import { createTestIssuer, type TestIssuer } from "@parley/testing";
import type { Test } from "tap";
import { edgeConfigShape } from "../src/config";
import { buildEdge } from "../src/server";

export interface LoneEdge {
  url: string;
  issuer: TestIssuer;
  /** Every log line the edge wrote, parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: log lines are asserted field by field
  logs: any[];
  edge: Awaited<ReturnType<typeof buildEdge>>;
  /** The revocations the edge listens to (auth's poll, in the platform): apply some to act as auth. */
  revocations: RevocationList;
  /** A token of a signed-in person (role user, valid a minute) from the edge's trusted issuer. */
  userToken(): Promise<string>;
  /** How many times the edge asked for the key set it serves at /.well-known/jwks.json. */
  jwksAsked(): number;
}

/**
 * The edge in-process, for what the platform can't be asked for: real tokens from a test
 * signing key, every upstream on a closed port (calls fail fast as UNAVAILABLE; presence
 * reports there fail and are only logged), its log lines kept for the test to read.
 */
export async function startLoneEdge(t: Test, env: Record<string, string> = {}): Promise<LoneEdge> {
  const issuer = await createTestIssuer();
  const nowhere = "127.0.0.1:1";
  const config = parseConfig(edgeConfigShape, {
    HTTP_PORT: "0",
    HTTP_HOST: "127.0.0.1",
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
    AUTH_ADDRESS: nowhere,
    USER_ADDRESS: nowhere,
    SESSION_ADDRESS: nowhere,
    BILLING_ADDRESS: nowhere,
    UPSTREAM_DEADLINE_MS: "500",
    ...env,
  });
  const logs: LoneEdge["logs"] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const revocations = createRevocationList();
  let jwksAsked = 0;
  const edge = await buildEdge({
    config,
    log: createLogger({ service: "edge", level: "debug", destination }),
    metrics: createMetrics("edge").registry,
    identity: {
      verifier: issuer.verifier,
      credentials: () => issuer.serviceToken("edge"),
      jwks: async () => {
        jwksAsked += 1;
        return issuer.jwks;
      },
      onRevoked: (listener) => revocations.onRevoked(listener),
    },
  });
  await edge.app.listen({ port: 0, host: "127.0.0.1" });
  t.teardown(() => edge.close());
  const address = edge.app.server.address();
  return {
    url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`,
    issuer,
    logs,
    edge,
    revocations,
    userToken: () => issuer.sign({ sub: "0190a8f0-0000-7000-8000-00000000c0de", role: "user", sid: "s" }, 60),
    jwksAsked: () => jwksAsked,
  };
}
