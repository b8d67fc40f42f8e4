import {
  type DescField,
  type DescMessage,
  type FileRegistry,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { invalidArgument } from "@parley/kit/errors";
import type { Route } from "./catalogue";

/** FieldMask paths are lowerCamelCase in proto3 JSON; people (and query strings) write snake_case. */
const camelPath = (path: string) => path.trim().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Finds a field by proto name or JSON name. */
function fieldOf(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name || f.jsonName === name);
}

/** A query-string value as the JSON the field expects (bools and 32-bit numbers are not strings in JSON). */
function queryValue(field: DescField, raw: string): JsonValue {
  if (field.fieldKind !== "scalar" && field.fieldKind !== "list") return raw;
  const scalar =
    field.fieldKind === "scalar" ? field.scalar : field.listKind === "scalar" ? field.scalar : undefined;
  switch (scalar) {
    case ScalarType.BOOL:
      return raw === "true" || raw === "1";
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    default:
      return raw;
  }
}

/** Sets `a.b.c` in a JSON object, descending the message's fields to type the leaf. */
function setPath(target: JsonObject, message: DescMessage, path: string, values: string[]): void {
  const [head, ...rest] = path.split(".");
  const field = fieldOf(message, head!);
  if (!field)
    throw invalidArgument("VALIDATION_FAILED", `unknown parameter "${path}"`, {
      fieldViolations: [{ field: path, description: "is not a field of this request" }],
    });
  if (rest.length > 0) {
    if (field.fieldKind !== "message")
      throw invalidArgument("VALIDATION_FAILED", `"${head}" has no fields`, {
        fieldViolations: [{ field: path, description: "is not a message field" }],
      });
    const child = (target[field.name] ?? {}) as JsonObject;
    target[field.name] = child;
    setPath(child, field.message, rest.join("."), values);
    return;
  }
  target[field.name] =
    field.fieldKind === "list"
      ? values.map((v) => queryValue(field, v))
      : queryValue(field, values[values.length - 1]!);
}

export interface HttpRequestParts {
  params: string[];
  query: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * Builds the gRPC request from path variables, query and body per the route's annotation
 * (the grpc-gateway rules), then encodes it. A PATCH without an explicit update_mask gets one
 * from the body's top-level fields.
 */
export function encodeRequest(route: Route, parts: HttpRequestParts, registry: FileRegistry): Buffer {
  const input = route.method.input;
  const json: JsonObject = {};
  const bodyObject = parts.body === undefined || parts.body === null ? undefined : parts.body;
  if (route.body === "*") {
    if (bodyObject !== undefined) {
      if (typeof bodyObject !== "object" || Array.isArray(bodyObject))
        throw invalidArgument("INVALID_BODY", "the request body must be a JSON object");
      Object.assign(json, bodyObject);
    }
  } else if (route.body) {
    if (bodyObject !== undefined) json[route.body] = bodyObject as JsonValue;
  }
  if (route.body !== "*") {
    for (const [key, value] of Object.entries(parts.query)) {
      if (value === undefined) continue;
      setPath(json, input, key, Array.isArray(value) ? value : [value]);
    }
  }
  route.pathFields.forEach((path, i) => {
    setPath(json, input, path, [parts.params[i]!]);
  });
  if (
    route.verb === "PATCH" &&
    route.body &&
    route.body !== "*" &&
    fieldOf(input, "update_mask") &&
    !("update_mask" in json) &&
    !("updateMask" in json)
  ) {
    const patch = json[route.body];
    if (patch && typeof patch === "object" && !Array.isArray(patch))
      json.update_mask = Object.keys(patch).join(",");
  }
  for (const key of ["update_mask", "updateMask"]) {
    const mask = json[key];
    if (typeof mask === "string") json[key] = mask.split(",").filter(Boolean).map(camelPath).join(",");
  }
  return encodeJson(input, json, registry);
}

/** Proto3 JSON → protobuf bytes; a mismatch is INVALID_ARGUMENT naming what is wrong. */
export function encodeJson(input: DescMessage, json: JsonValue, registry: FileRegistry): Buffer {
  let message: ReturnType<typeof fromJson>;
  try {
    message = fromJson(input, json, { registry });
  } catch (error) {
    const description =
      error instanceof Error ? error.message.replace(/^cannot decode [^:]+: /, "") : "invalid";
    throw invalidArgument("INVALID_BODY", `the request does not match ${input.typeName}: ${description}`, {
      fieldViolations: [{ field: "body", description }],
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
