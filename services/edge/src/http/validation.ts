import { Ajv, type Options } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

/** The edge's JSON Schema validator: strict, first error only, the formats its schemas use. */
export function createAjv(options: Options): Ajv {
  const instance = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, ...options });
  addFormats.default(instance, ["date-time", "uuid", "int32", "double", "float", "byte"]);
  instance.addFormat("uint32", { type: "number", validate: (n: number) => n >= 0 && n <= 4294967295 });
  return instance;
}

/**
 * Request validation with two rule sets. Query strings and path variables are text, so they
 * are coerced to the field's type, strictly: only `true`/`false` are booleans, only digits
 * numbers, and a repeated parameter becomes a list. JSON bodies are taken as sent: a string
 * where a boolean belongs is an error, not a guess.
 */
export function validatorCompiler(): FastifySchemaCompiler<Record<string, unknown>> {
  const text = createAjv({ coerceTypes: "array" });
  const json = createAjv({ coerceTypes: false });
  return ({ schema, httpPart }) => (httpPart === "body" ? json : text).compile(schema);
}
