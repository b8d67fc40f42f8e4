import { Metadata } from "@grpc/grpc-js";

export interface CallerFacts {
  requestId: string;
  /** A verified bearer token, passed on as-is. */
  bearerToken?: string;
  /** A partner key, passed on for the service to verify through auth. */
  apiKey?: string;
  clientIp: string;
  userAgent?: string;
  /** The client's Accept-Language: the language of messages the call sends (a password reset). */
  acceptLanguage?: string;
}

/** Language tags, q-values and their separators: anything else is not passed on. */
const ACCEPT_LANGUAGE = /^[\w\-,;=.* ]{1,200}$/;
/** What gRPC metadata may carry as text; HTTP headers may also hold tabs and Latin-1 letters. */
const NOT_METADATA_TEXT = /[^\x20-\x7e]/g;

/** gRPC metadata as HTTP/2 headers (lower-case names, text values). */
export type UpstreamHeaders = Record<string, string>;

/**
 * The only metadata the edge sends upstream. Nothing a client sends is copied through except
 * the credentials the edge itself checked or forwards, its user agent and its Accept-Language
 * (when it is only language tags), so a client cannot claim an identity or an IP in metadata.
 */
export function upstreamMetadata(facts: CallerFacts): UpstreamHeaders {
  const headers: UpstreamHeaders = { "x-request-id": facts.requestId, "x-client-ip": facts.clientIp };
  if (facts.bearerToken) headers.authorization = `Bearer ${facts.bearerToken}`;
  else if (facts.apiKey) headers["x-api-key"] = facts.apiKey;
  if (facts.userAgent)
    headers["x-client-user-agent"] = facts.userAgent.slice(0, 300).replace(NOT_METADATA_TEXT, "?");
  if (facts.acceptLanguage && ACCEPT_LANGUAGE.test(facts.acceptLanguage))
    headers["accept-language"] = facts.acceptLanguage;
  return headers;
}

/** The same metadata for grpc-js (server streams). */
export function asGrpcMetadata(headers: UpstreamHeaders): Metadata {
  const metadata = new Metadata();
  for (const name in headers) metadata.set(name, headers[name]!);
  return metadata;
}
