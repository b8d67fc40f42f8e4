import type { DescMessage } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import type { Catalogue, DocumentedError, Rpc } from "./catalogue";
import { HTTP_STATUS } from "./errors";
import { rpcSchemas, type Schema, type SchemaMode, schemaBuilder } from "./schemas";

/** Resources the operations are grouped by, in the order the docs list them. */
export const TAGS = [
  { name: "Auth", description: "Accounts, sign-in, tokens, passwords, second factors and login sessions." },
  { name: "Account", description: "Your profile, and other people's public profiles." },
  { name: "Experts", description: "Discovery of experts, their profiles and availability." },
  { name: "Sessions", description: "Paid consultations: request, accept, end, review; an expert's queue." },
  { name: "Chat", description: "Messages, receipts, typing and call signals of a session." },
  { name: "Wallet", description: "Balance, top-ups, history and an expert's earnings." },
  { name: "Invoices", description: "The bill of each settled session." },
  { name: "Partner", description: "For partner backends with an API key: user sync and token exchange." },
  {
    name: "Admin",
    description: "Staff only: the back office (/v1/admin), roles, refunds, credits, API keys, signing keys.",
  },
] as const;

export type Tag = (typeof TAGS)[number]["name"];

const STAFF = new Set(["operator", "support", "moderator", "admin"]);

/** Which resource an RPC is about: staff-only and partner-only RPCs by caller, the rest by path. */
export function tagOf(rpc: Rpc): Tag {
  const callers = rpc.callers;
  if (callers && !callers.anonymous) {
    if (callers.roles.length > 0 && callers.roles.every((r) => STAFF.has(r))) return "Admin";
    if (callers.roles.length === 0 && callers.partnerScopes.length > 0) return "Partner";
  }
  const path = rpc.template;
  if (path.startsWith("/v1/auth/")) return "Auth";
  if (path.startsWith("/v1/partner/")) return "Partner";
  if (/^\/v1\/me\/(wallet|transactions|topups|earnings)/.test(path) || path.startsWith("/v1/wallets/"))
    return "Wallet";
  if (path.startsWith("/v1/me/invoices") || path.startsWith("/v1/invoices/")) return "Invoices";
  if (/^\/v1\/sessions\/\{[^}]+\}(\/messages|:markRead|:typing|:signal)$/.test(path)) return "Chat";
  if (path.startsWith("/v1/sessions") || path.endsWith("/queue")) return "Sessions";
  if (path.startsWith("/v1/experts") || path === "/v1/me/availability") return "Experts";
  return "Account";
}

/** Who may call, in OpenAPI terms: none for anonymous RPCs, else a bearer token and/or a partner key. */
function securityOf(rpc: Rpc): Array<Record<string, string[]>> {
  const callers = rpc.callers;
  if (!callers || callers.anonymous) return [];
  const schemes: Array<Record<string, string[]>> = [];
  if (callers.roles.length > 0) schemes.push({ bearer: [] });
  if (callers.partnerScopes.length > 0) schemes.push({ apiKey: [] });
  return schemes;
}

const ERROR_SCHEMA: Schema = {
  type: "object",
  description: "Every error, whatever the route: the HTTP status, the gRPC status and a stable reason.",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "status", "reason", "message", "details", "request_id"],
      properties: {
        code: { type: "integer", description: "The HTTP status.", example: 400 },
        status: { type: "string", description: "The gRPC status name.", example: "INVALID_ARGUMENT" },
        reason: {
          type: "string",
          description: "Stable machine-readable reason to branch on (each operation lists its own).",
          example: "VALIDATION_FAILED",
        },
        message: { type: "string", description: "For people; may change." },
        details: {
          type: "object",
          properties: {
            metadata: {
              type: "object",
              additionalProperties: { type: "string" },
              description: "Facts about the error, for example `shortfall_minor`.",
            },
            field_violations: {
              type: "array",
              items: {
                type: "object",
                required: ["field", "description"],
                properties: {
                  field: { type: "string", example: "password" },
                  description: { type: "string", example: "must be at least 8 characters" },
                },
              },
            },
          },
        },
        request_id: { type: "string", description: "Echoes `x-request-id`; quote it to support." },
      },
    },
  },
};

/** Errors the edge itself answers, by the route's shape. */
function edgeErrors(rpc: Rpc, schemasPresent: boolean): DocumentedError[] {
  const errors: DocumentedError[] = [];
  if (schemasPresent)
    errors.push({
      code: "INVALID_ARGUMENT",
      reason: "INVALID_BODY",
      note: "the request does not match the operation's schema; field_violations names the field",
    });
  if (securityOf(rpc).length > 0) {
    errors.push({ code: "UNAUTHENTICATED", reason: "UNAUTHENTICATED", note: "no credentials" });
    errors.push({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID", note: "invalid or expired token" });
  }
  errors.push({ code: "RESOURCE_EXHAUSTED", reason: "RATE_LIMITED", note: "see Retry-After" });
  return errors;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad request",
  401: "Not signed in",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  429: "Too many requests",
  499: "Cancelled",
  501: "Not implemented",
  503: "Unavailable; retry shortly",
  504: "Deadline exceeded",
};

function errorResponses(errors: DocumentedError[]): Record<string, unknown> {
  const byStatus = new Map<number, DocumentedError[]>();
  for (const error of errors) {
    const code = status[error.code as keyof typeof status] as number | undefined;
    const http = code === undefined ? 500 : (HTTP_STATUS[code] ?? 500);
    const list = byStatus.get(http) ?? [];
    if (!list.some((e) => e.reason === error.reason && e.code === error.code)) list.push(error);
    byStatus.set(http, list);
  }
  return Object.fromEntries(
    [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([http, list]) => [
        String(http),
        {
          description: [
            `${STATUS_TEXT[http] ?? "Error"}.`,
            ...list.map((e) => `- \`${e.reason}\` (${e.code})${e.note ? `: ${e.note}` : ""}`),
          ].join("\n"),
          content: {
            "application/json": {
              schema: {
                allOf: [
                  { $ref: "#/components/schemas/Error" },
                  {
                    type: "object",
                    properties: {
                      error: {
                        type: "object",
                        properties: {
                          reason: { type: "string", enum: [...new Set(list.map((e) => e.reason))] },
                        },
                      },
                    },
                  },
                ],
              },
              examples: Object.fromEntries(
                list.map((e) => [
                  e.reason,
                  {
                    summary: e.note || e.reason,
                    value: {
                      error: {
                        code: http,
                        status: e.code,
                        reason: e.reason,
                        message: e.note || e.reason.toLowerCase().replaceAll("_", " "),
                        details: {},
                        request_id: "0190a8f0-5c2e-7a31-9b1d-3f4e5a6b7c8d",
                      },
                    },
                  },
                ]),
              ),
            },
          },
        },
      ]),
  );
}

export const API_DESCRIPTION = [
  "Parley is a marketplace of paid consultations: people top up a prepaid wallet and pay per minute to chat or call with experts.",
  "This is its HTTP API, generated from the same protobuf contracts partners use over gRPC.",
  "",
  "- **Sign in** with `POST /v1/auth/login` (or register) and send `Authorization: Bearer <access_token>`; refresh with `POST /v1/auth/token:refresh`. Partner backends send `x-api-key`.",
  "- **JSON** uses proto field names (snake_case); 64-bit integers (money in minor units, sequence numbers) are decimal strings; enums are names; timestamps are RFC 3339 UTC.",
  '- **Errors** share one envelope: `{"error": {"code", "status", "reason", "message", "details", "request_id"}}`. Branch on `reason`.',
  "- **Limits**: each operation is rate limited per person (or per IP when not signed in); over the limit is 429 with `Retry-After`.",
  "- **Live events** (chat, session status, per-minute charges) come over the WebSocket at `/v1/ws`, documented as AsyncAPI 3.0 at [/asyncapi.json](/asyncapi.json).",
].join("\n");

/** The components every document generated from the descriptors shares (OpenAPI and AsyncAPI). */
export function documentedSchemas(catalogue: Catalogue) {
  const schemas: Record<string, Schema> = {};
  const builder = schemaBuilder(catalogue);
  const mode: SchemaMode = {
    kind: "document",
    ref: (message: DescMessage) => {
      if (!(message.typeName in schemas)) {
        schemas[message.typeName] = {};
        schemas[message.typeName] = builder.message(message, mode);
      }
      return { $ref: `#/components/schemas/${message.typeName}` };
    },
  };
  return { schemas, builder, mode };
}

/**
 * The OpenAPI 3.1 document of every annotated RPC, generated from the descriptors that build
 * the routes: summaries from the comments' first sentences, required fields from
 * field_behavior, security from the permission maps, each documented error reason as a
 * response with the envelope, operations grouped by resource.
 */
export function buildOpenApi(catalogue: Catalogue): Schema {
  const { schemas, builder, mode } = documentedSchemas(catalogue);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const rpc of catalogue.rpcs) {
    const input = rpc.method.input;
    const shapes = rpcSchemas(rpc, builder, catalogue);
    const request = shapes.request(mode);
    const pathParameters = rpc.pathFields.map((name) => ({
      name,
      in: "path",
      required: true,
      schema: (request.params?.properties as Record<string, Schema> | undefined)?.[
        name.replaceAll(".", "__")
      ],
      description: catalogue.comment(`${input.typeName}.${name}`),
    }));
    const requiredQuery = new Set((request.querystring?.required as string[] | undefined) ?? []);
    const queryParameters =
      rpc.body === "*"
        ? []
        : shapes.queryParameters(mode).map((p) => ({
            name: p.name,
            in: "query",
            required: requiredQuery.has(p.name),
            schema: p.schema,
            ...(p.field.fieldKind === "list" ? { style: "form", explode: true } : {}),
            description: catalogue.comment(`${p.owner.typeName}.${p.field.name}`),
          }));
    const security = securityOf(rpc);
    const operation = {
      operationId: `${rpc.service.name}_${rpc.method.name}`,
      summary: rpc.summary,
      description: rpc.description,
      tags: [tagOf(rpc)],
      parameters: [...pathParameters, ...queryParameters],
      ...(request.body
        ? { requestBody: { required: true, content: { "application/json": { schema: request.body } } } }
        : {}),
      responses: {
        "200": {
          description: "OK",
          content: { "application/json": { schema: mode.ref(rpc.method.output) } },
        },
        ...errorResponses([
          ...edgeErrors(rpc, pathParameters.length + queryParameters.length > 0 || !!request.body),
          ...rpc.errors,
        ]),
      },
      security,
    };
    paths[rpc.template] = { ...paths[rpc.template], [rpc.verb.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Parley API", version: "1.0.0", description: API_DESCRIPTION },
    servers: [{ url: "/" }],
    tags: TAGS.map((tag) => ({ ...tag })),
    paths,
    components: {
      schemas: {
        ...Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
        Error: ERROR_SCHEMA,
      },
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "An access token from login, register, refresh or a partner's token exchange.",
        },
        apiKey: {
          type: "apiKey",
          in: "header",
          name: "x-api-key",
          description: "A partner backend's API key.",
        },
      },
    },
  };
}
