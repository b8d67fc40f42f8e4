import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { Catalogue, Route } from "./catalogue";

type Schema = Record<string, unknown>;

/** Well-known types have a JSON form of their own (proto3 JSON mapping). */
const WELL_KNOWN: Record<string, Schema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?\\d+(\\.\\d+)?s$" },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated field paths." },
  "google.protobuf.Struct": { type: "object" },
  "google.protobuf.Any": { type: "object" },
};

function scalarSchema(scalar: ScalarType): Schema {
  switch (scalar) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int64", minimum: 0 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", description: "64-bit integer as a decimal string." };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte" };
    default:
      return { type: "string" };
  }
}

/**
 * The OpenAPI 3.1 document of every annotated RPC, generated from the same descriptors that
 * drive the routes, with the proto comments as descriptions.
 */
export function buildOpenApi(catalogue: Catalogue, serverUrl = "/"): Schema {
  const schemas: Record<string, Schema> = {};
  const ref = (message: DescMessage): Schema => {
    if (WELL_KNOWN[message.typeName]) return WELL_KNOWN[message.typeName]!;
    if (!schemas[message.typeName]) {
      schemas[message.typeName] = {};
      schemas[message.typeName] = messageSchema(message);
    }
    return { $ref: `#/components/schemas/${message.typeName}` };
  };
  const enumSchema = (desc: DescEnum): Schema => ({ type: "string", enum: desc.values.map((v) => v.name) });
  const valueSchema = (field: DescField): Schema => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return enumSchema(field.enum);
      case "message":
        return ref(field.message);
      case "list":
        return {
          type: "array",
          items:
            field.listKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.listKind === "enum"
                ? enumSchema(field.enum)
                : ref(field.message),
        };
      case "map":
        return {
          type: "object",
          additionalProperties:
            field.mapKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.mapKind === "enum"
                ? enumSchema(field.enum)
                : ref(field.message),
        };
    }
  };
  const described = (schema: Schema, description: string): Schema =>
    description ? ("$ref" in schema ? { allOf: [schema], description } : { ...schema, description }) : schema;
  function messageSchema(message: DescMessage): Schema {
    return {
      type: "object",
      description: catalogue.comment(message.typeName),
      properties: Object.fromEntries(
        message.fields.map((field) => [
          field.name,
          described(valueSchema(field), catalogue.comment(`${message.typeName}.${field.name}`)),
        ]),
      ),
    };
  }

  const errorSchema: Schema = {
    type: "object",
    properties: {
      error: {
        type: "object",
        properties: {
          code: { type: "integer", description: "HTTP status" },
          status: { type: "string", description: "gRPC status name" },
          reason: { type: "string", description: "Stable machine-readable reason (see each RPC's errors)" },
          message: { type: "string" },
          details: { type: "object" },
          request_id: { type: "string" },
        },
      },
    },
  };

  const operation = (route: Route) => {
    const input = route.method.input;
    const description = catalogue.comment(`${route.service.typeName}.${route.method.name}`);
    const pathParams = route.pathFields.map((name) => ({
      name,
      in: "path",
      required: true,
      schema: { type: "string" },
      description: catalogue.comment(`${input.typeName}.${name}`),
    }));
    const queryParams =
      route.body === "*"
        ? []
        : input.fields
            .filter((f) => !route.pathFields.includes(f.name) && f.name !== route.body)
            .flatMap((f) =>
              f.fieldKind === "scalar" ||
              f.fieldKind === "enum" ||
              (f.fieldKind === "list" && f.listKind !== "message")
                ? [
                    {
                      name: f.name,
                      in: "query",
                      required: false,
                      schema: valueSchema(f),
                      description: catalogue.comment(`${input.typeName}.${f.name}`),
                    },
                  ]
                : f.fieldKind === "message" && WELL_KNOWN[f.message.typeName]
                  ? [
                      {
                        name: f.name,
                        in: "query",
                        required: false,
                        schema: WELL_KNOWN[f.message.typeName],
                        description: catalogue.comment(`${input.typeName}.${f.name}`),
                      },
                    ]
                  : [],
            );
    const bodyField =
      route.body && route.body !== "*" ? input.fields.find((f) => f.name === route.body) : undefined;
    return {
      operationId: `${route.service.name}_${route.method.name}`,
      summary: description.split("\n")[0] ?? route.method.name,
      description,
      tags: [route.service.name],
      parameters: [...pathParams, ...queryParams],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: bodyField ? valueSchema(bodyField) : ref(input) } },
            },
          }
        : {}),
      responses: {
        "200": { description: "OK", content: { "application/json": { schema: ref(route.method.output) } } },
        default: {
          description: "Error",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }, {}],
    };
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of catalogue.routes) {
    paths[route.template] = { ...paths[route.template], [route.verb.toLowerCase()]: operation(route) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Parley API",
      version: "1.0.0",
      description:
        "HTTP mapping of Parley's gRPC services (google.api.http). Errors share one envelope; int64 values are decimal strings; enums are names.",
    },
    servers: [{ url: serverUrl }],
    tags: [...new Set(catalogue.routes.map((r) => r.service))].map((s) => ({
      name: s.name,
      description: catalogue.comment(s.typeName),
    })),
    paths,
    components: {
      schemas: { ...schemas, Error: errorSchema },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
      },
    },
  };
}
