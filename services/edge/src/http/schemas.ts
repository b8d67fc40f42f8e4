import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { Catalogue, Rpc } from "./catalogue";

export type Schema = Record<string, unknown>;

/**
 * Text fields refuse NUL and the other C0 control characters (tab, line feed and carriage
 * return are text) and DEL: nothing legitimate sends them, and some stores and logs choke.
 */
export const NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$";

/**
 * Ids follow Parley's convention (`<thing>_id`, a UUIDv7) unless the caller or a provider
 * chooses them: those are free text (idempotency keys, partners' and providers' own ids).
 */
const FREE_TEXT_IDS = new Set([
  "request_id",
  "client_msg_id",
  "external_id",
  "partner_id",
  "provider_event_id",
  "provider_payment_id",
]);

const EXAMPLE_UUID = "0190a8f0-5c2e-7a31-9b1d-3f4e5a6b7c8d";

/**
 * How a schema is rendered. `validate`: self-contained (messages inlined), strict (no
 * unknown fields), text checked for control characters, for the edge's own validation.
 * `document`: messages as `$ref`s into components, with descriptions, formats and examples,
 * for OpenAPI and AsyncAPI. Both come from the same walk over the descriptors, so what the
 * docs say is what the edge checks.
 */
export type SchemaMode = { kind: "validate" } | { kind: "document"; ref: (message: DescMessage) => Schema };

/** Well-known types have a JSON form of their own (proto3 JSON mapping). */
function wellKnown(typeName: string, mode: SchemaMode): Schema | undefined {
  const documented = mode.kind === "document";
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return {
        type: "string",
        format: "date-time",
        ...(documented ? { example: "2026-01-15T09:30:00Z" } : {}),
      };
    case "google.protobuf.Duration":
      return { type: "string", pattern: "^-?[0-9]+(\\.[0-9]+)?s$" };
    case "google.protobuf.FieldMask":
      return {
        type: "string",
        pattern: "^[a-z0-9_.,]*$",
        ...(documented ? { description: "Comma-separated field paths (snake_case)." } : {}),
      };
    case "google.protobuf.Struct":
      return { type: "object" };
    case "google.protobuf.Value":
    case "google.protobuf.Any":
      return {};
    default:
      return undefined;
  }
}

function scalarSchema(scalar: ScalarType, name: string, mode: SchemaMode): Schema {
  const documented = mode.kind === "document";
  switch (scalar) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32", minimum: -2147483648, maximum: 2147483647 };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const unsigned = scalar === ScalarType.UINT64 || scalar === ScalarType.FIXED64;
      const pattern = unsigned ? "^[0-9]{1,20}$" : "^-?[0-9]{1,19}$";
      // proto3 JSON writes 64-bit integers as decimal strings (they overflow JSON numbers);
      // readers also accept plain integers.
      return documented
        ? {
            type: "string",
            format: unsigned ? "uint64" : "int64",
            pattern,
            example: int64Example(name),
          }
        : { type: ["string", "integer"], pattern };
    }
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", pattern: "^[A-Za-z0-9+/_-]*={0,2}$" };
    default:
      return stringSchema(name, mode);
  }
}

function stringSchema(name: string, mode: SchemaMode): Schema {
  if (mode.kind === "validate") return { type: "string", pattern: NO_CONTROL_CHARACTERS };
  if ((name.endsWith("_id") || name === "id") && !FREE_TEXT_IDS.has(name))
    return { type: "string", format: "uuid", example: EXAMPLE_UUID };
  if (name === "currency") return { type: "string", pattern: "^[A-Z]{3}$", example: "INR" };
  if (name === "email") return { type: "string", format: "email", example: "asha@example.com" };
  if (name === "request_id") return { type: "string", maxLength: 128, example: EXAMPLE_UUID };
  return { type: "string" };
}

/** Realistic values for the 64-bit integers Parley's messages carry. */
function int64Example(name: string): string {
  if (name.includes("amount") || name.endsWith("_minor")) return "50000";
  if (name.includes("seq")) return "42";
  if (name.includes("seconds")) return "300";
  if (name.includes("minute")) return "3";
  return "1";
}

function enumSchema(desc: DescEnum, required: boolean, mode: SchemaMode): Schema {
  // UNSPECIFIED is refused where the field is required, so it is not offered there.
  const values = desc.values.filter((v) => !(required && v.number === 0)).map((v) => v.name);
  return mode.kind === "document"
    ? { type: "string", enum: values, example: values.find((v) => !v.endsWith("_UNSPECIFIED")) ?? values[0] }
    : { type: "string", enum: values };
}

export interface SchemaBuilder {
  /** A message's JSON object schema; `omit` leaves out fields bound elsewhere (path variables). */
  message(message: DescMessage, mode: SchemaMode, omit?: readonly string[]): Schema;
  /** One field's value schema. */
  field(field: DescField, mode: SchemaMode): Schema;
}

export function schemaBuilder(catalogue: Catalogue): SchemaBuilder {
  const describe = (schema: Schema, fullName: string, mode: SchemaMode): Schema => {
    if (mode.kind !== "document") return schema;
    const description = catalogue.comment(fullName);
    if (!description) return schema;
    return "$ref" in schema ? { allOf: [schema], description } : { ...schema, description };
  };
  /** Messages being inlined: a recursive message is cut at its second appearance. */
  const inlining = new Set<string>();

  const messageValue = (message: DescMessage, mode: SchemaMode): Schema => {
    const known = wellKnown(message.typeName, mode);
    if (known) return known;
    if (mode.kind === "document") return mode.ref(message);
    if (inlining.has(message.typeName)) return { type: "object" };
    inlining.add(message.typeName);
    try {
      return builder.message(message, mode);
    } finally {
      inlining.delete(message.typeName);
    }
  };

  const builder: SchemaBuilder = {
    field(field, mode) {
      const required = catalogue.required(field);
      switch (field.fieldKind) {
        case "scalar":
          return scalarSchema(field.scalar, field.name, mode);
        case "enum":
          return enumSchema(field.enum, required, mode);
        case "message":
          return messageValue(field.message, mode);
        case "list": {
          const items =
            field.listKind === "scalar"
              ? scalarSchema(field.scalar, field.name, mode)
              : field.listKind === "enum"
                ? enumSchema(field.enum, false, mode)
                : messageValue(field.message, mode);
          return { type: "array", items, ...(required ? { minItems: 1 } : {}) };
        }
        case "map": {
          const values =
            field.mapKind === "scalar"
              ? scalarSchema(field.scalar, field.name, mode)
              : field.mapKind === "enum"
                ? enumSchema(field.enum, false, mode)
                : messageValue(field.message, mode);
          return { type: "object", additionalProperties: values };
        }
      }
    },
    message(message, mode, omit = []) {
      const fields = message.fields.filter((f) => !omit.includes(f.name));
      const required = fields.filter((f) => catalogue.required(f)).map((f) => f.name);
      const schema: Schema = {
        type: "object",
        properties: Object.fromEntries(
          fields.map((f) => [
            f.name,
            describe(builder.field(f, mode), `${message.typeName}.${f.name}`, mode),
          ]),
        ),
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: false,
      };
      if (mode.kind === "document") {
        const description = catalogue.comment(message.typeName);
        const alternatives = message.oneofs
          .filter((oneof) => oneof.fields.length > 1)
          .map((oneof) => `At most one of ${oneof.fields.map((f) => `\`${f.name}\``).join(", ")} is set.`);
        const text = [description, ...alternatives].filter(Boolean).join(" ");
        if (text) schema.description = text;
      }
      return schema;
    },
  };
  return builder;
}

/** The JSON schemas of one RPC's HTTP request, by part (Fastify's route `schema`). */
export interface RequestSchemas {
  params?: Schema;
  querystring?: Schema;
  body?: Schema;
}

/** Scalars, enums, repeated scalars and well-known types can travel in a query string. */
function queryable(field: DescField): boolean {
  if (field.fieldKind === "scalar" || field.fieldKind === "enum") return true;
  if (field.fieldKind === "list") return field.listKind !== "message";
  return false;
}

/**
 * Query parameters of a request: each queryable field by name, and the queryable fields of
 * its (non-repeated) message fields by dotted path (`min_rate.amount_minor`).
 */
function queryParameters(
  message: DescMessage,
  exclude: readonly string[],
  builder: SchemaBuilder,
  mode: SchemaMode,
): Array<{ name: string; field: DescField; schema: Schema; owner: DescMessage }> {
  const parameters: Array<{ name: string; field: DescField; schema: Schema; owner: DescMessage }> = [];
  for (const field of message.fields) {
    if (exclude.includes(field.name)) continue;
    if (field.fieldKind === "message") {
      const known = wellKnown(field.message.typeName, mode);
      if (known) parameters.push({ name: field.name, field, schema: known, owner: message });
      else
        for (const child of field.message.fields.filter(queryable))
          parameters.push({
            name: `${field.name}.${child.name}`,
            field: child,
            schema: builder.field(child, mode),
            owner: field.message,
          });
    } else if (queryable(field)) {
      parameters.push({ name: field.name, field, schema: builder.field(field, mode), owner: message });
    }
  }
  return parameters;
}

export interface RpcSchemas {
  request(mode: SchemaMode): RequestSchemas;
  /** Query parameters with their descriptors (OpenAPI lists each one). */
  queryParameters(
    mode: SchemaMode,
  ): Array<{ name: string; field: DescField; schema: Schema; owner: DescMessage }>;
}

/**
 * An RPC's request as HTTP parts, following the annotation (grpc-gateway's rules): path
 * variables set their fields, `body: "*"` carries every other field, `body: "field"` that
 * field, and without a body the remaining fields come from the query string. A PATCH may
 * leave `update_mask` out (the edge derives it from the body).
 */
export function rpcSchemas(rpc: Rpc, builder: SchemaBuilder, catalogue: Catalogue): RpcSchemas {
  const input = rpc.method.input;
  const pathParams = (mode: SchemaMode): Schema | undefined =>
    rpc.pathFields.length === 0
      ? undefined
      : {
          type: "object",
          properties: Object.fromEntries(
            rpc.pathFields.map((path) => {
              const field = input.fields.find((f) => f.name === path);
              const schema = field ? builder.field(field, mode) : { type: "string" };
              return [
                path.replaceAll(".", "__"),
                { ...schema, ...(schema.type === "string" ? { minLength: 1 } : {}) },
              ];
            }),
          ),
          required: rpc.pathFields.map((p) => p.replaceAll(".", "__")),
        };
  const queryExcluded = rpc.body === "*" ? input.fields.map((f) => f.name) : [...rpc.pathFields, rpc.body];
  const parameters = (mode: SchemaMode) => queryParameters(input, queryExcluded, builder, mode);
  const querystring = (mode: SchemaMode): Schema | undefined => {
    const list = parameters(mode);
    if (rpc.body === "*") return { type: "object", additionalProperties: false, properties: {} };
    const required = list
      .filter((p) => p.owner === input && catalogue.required(p.field))
      .filter((p) => !(rpc.verb === "PATCH" && p.name === "update_mask"))
      .map((p) => p.name);
    return {
      type: "object",
      properties: Object.fromEntries(list.map((p) => [p.name, p.schema])),
      ...(required.length > 0 ? { required } : {}),
      additionalProperties: false,
    };
  };
  const body = (mode: SchemaMode): Schema | undefined => {
    if (rpc.body === "*") return builder.message(input, mode, rpc.pathFields);
    if (rpc.body) {
      const field = input.fields.find((f) => f.name === rpc.body);
      return field ? builder.field(field, mode) : undefined;
    }
    return undefined;
  };
  return {
    request(mode) {
      const schemas: RequestSchemas = {};
      const params = pathParams(mode);
      if (params) schemas.params = params;
      const query = querystring(mode);
      if (query) schemas.querystring = query;
      const requestBody = body(mode);
      if (requestBody) schemas.body = requestBody;
      return schemas;
    },
    queryParameters: parameters,
  };
}
