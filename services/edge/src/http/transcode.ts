import {
  type DescMessage,
  type FileRegistry,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { invalidArgument } from "@parley/kit/errors";
import type { Rpc } from "./catalogue";

/** FieldMask paths are lowerCamelCase in proto3 JSON; people (and query strings) write snake_case. */
const camelPath = (path: string) => path.trim().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The parts of an HTTP request after Fastify parsed and validated them against the RPC's schemas. */
export interface HttpRequestParts {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

/** Sets `a.b` in a JSON object. */
function setPath(target: JsonObject, path: string, value: JsonValue): void {
  const dot = path.indexOf(".");
  if (dot < 0) {
    target[path] = value;
    return;
  }
  const head = path.slice(0, dot);
  const child = (target[head] ?? {}) as JsonObject;
  target[head] = child;
  setPath(child, path.slice(dot + 1), value);
}

/**
 * The gRPC request of an RPC from its HTTP parts, per the annotation (grpc-gateway's rules),
 * encoded. The parts were validated against the schemas derived from the same message, so
 * what remains is assembly: a PATCH without an explicit update_mask gets one from the body's
 * top-level fields.
 */
export function encodeRequest(rpc: Rpc, parts: HttpRequestParts, registry: FileRegistry): Buffer {
  const json: JsonObject = {};
  if (rpc.body === "*") {
    if (parts.body !== undefined && parts.body !== null) Object.assign(json, parts.body);
  } else {
    if (rpc.body && parts.body !== undefined) json[rpc.body] = parts.body as JsonValue;
    for (const key in parts.query) setPath(json, key, parts.query[key] as JsonValue);
  }
  for (const path of rpc.pathFields) setPath(json, path, parts.params[path.replaceAll(".", "__")]!);
  if (rpc.verb === "PATCH" && rpc.body && rpc.body !== "*" && json.update_mask === undefined) {
    const patch = json[rpc.body];
    if (
      patch &&
      typeof patch === "object" &&
      !Array.isArray(patch) &&
      "update_mask" in fieldNames(rpc.method.input)
    )
      json.update_mask = Object.keys(patch).join(",");
  }
  const mask = json.update_mask;
  if (typeof mask === "string") json.update_mask = mask.split(",").filter(Boolean).map(camelPath).join(",");
  // Nothing to encode (GET /v1/me/wallet): proto3 bytes of a message with no field set are none.
  return Object.keys(json).length === 0 ? NO_FIELDS : encodeJson(rpc.method.input, json, registry);
}

const NO_FIELDS = Buffer.alloc(0);

const fieldNamesCache = new WeakMap<DescMessage, Record<string, true>>();
function fieldNames(message: DescMessage): Record<string, true> {
  let names = fieldNamesCache.get(message);
  if (!names) {
    names = Object.fromEntries(message.fields.map((f) => [f.name, true as const]));
    fieldNamesCache.set(message, names);
  }
  return names;
}

/** Proto3 JSON → protobuf bytes; a mismatch the schemas let through is INVALID_ARGUMENT all the same. */
export function encodeJson(input: DescMessage, json: JsonValue, registry: FileRegistry): Buffer {
  let message: ReturnType<typeof fromJson>;
  try {
    message = fromJson(input, json, { registry });
  } catch (error) {
    const description =
      error instanceof Error ? error.message.replace(/^cannot decode [^:]+: /, "") : "invalid";
    const field = /^field ([\w.]+):/.exec(description)?.[1]?.replace(`${input.typeName}.`, "") ?? "body";
    throw invalidArgument("INVALID_BODY", `the request does not match ${input.typeName}: ${description}`, {
      fieldViolations: [{ field, description }],
    });
  }
  return Buffer.from(toBinary(input, message));
}

/** The gRPC response as proto3 JSON: proto field names, defaults included, int64 as strings, enums by name. */
export function decodeResponse(output: DescMessage, bytes: Uint8Array, registry: FileRegistry): JsonValue {
  return toJson(output, fromBinary(output, bytes), {
    registry,
    useProtoFieldName: true,
    alwaysEmitImplicit: true,
  });
}
