import { Metadata } from "@grpc/grpc-js";

export interface CallerFacts {
  requestId: string;
  /** A verified bearer token, passed on as-is. */
  bearerToken?: string;
  /** A partner key, passed on for the service to verify through auth. */
  apiKey?: string;
  clientIp: string;
  userAgent?: string;
}

/**
 * The only metadata the edge sends upstream. Nothing a client sends is copied through except
 * the credentials the edge itself checked or forwards, so a client cannot claim an identity
 * or an IP in metadata.
 */
export function upstreamMetadata(facts: CallerFacts): Metadata {
  const metadata = new Metadata();
  metadata.set("x-request-id", facts.requestId);
  if (facts.bearerToken) metadata.set("authorization", `Bearer ${facts.bearerToken}`);
  else if (facts.apiKey) metadata.set("x-api-key", facts.apiKey);
  metadata.set("x-client-ip", facts.clientIp);
  if (facts.userAgent) metadata.set("x-client-user-agent", facts.userAgent.slice(0, 300));
  return metadata;
}
