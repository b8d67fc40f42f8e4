import {
  createFileRegistry,
  type DescExtension,
  type DescField,
  type DescMethod,
  type DescService,
  type FileRegistry,
  fromBinary,
  getOption,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBytes } from "@parley/proto/descriptors";
import { type CallerRule, callerRules } from "@parley/proto/permissions";
import { UPSTREAM_NAMES, type UpstreamName } from "../upstreams";

export type Verb = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One error an RPC documents: `Errors: NOT_FOUND EXPERT_NOT_FOUND (note), …`. */
export interface DocumentedError {
  /** The gRPC code name: NOT_FOUND. */
  code: string;
  /** The ErrorInfo reason (the code name when the comment names none). */
  reason: string;
  note: string;
}

/** One annotated RPC, served as one HTTP route. */
export interface Rpc {
  verb: Verb;
  /** The template as annotated: `/v1/sessions/{session_id}:accept`; also the route's metrics label. */
  template: string;
  /** The same path in Fastify's syntax: `/v1/sessions/:session_id(^[^/:]+)::accept`. */
  url: string;
  /** Path variables in order: the request field each one sets. */
  pathFields: string[];
  /** "*" (whole body), a field name, or "" (no body: the rest comes from the query). */
  body: string;
  upstream: UpstreamName;
  service: DescService;
  method: DescMethod;
  /** "/parley.user.v1.UserService/GetExpert" */
  grpcPath: string;
  /** Who may call it (the service's permission map); undefined: nobody outside the platform. */
  callers: CallerRule | undefined;
  /** The comment's first sentence. */
  summary: string;
  /** The rest of the comment, Callers line included, Errors line excluded. */
  description: string;
  errors: DocumentedError[];
}

export interface Catalogue {
  registry: FileRegistry;
  rpcs: Rpc[];
  /** The proto comment of a service, method, message, field or enum value (by full name). */
  comment(fullName: string): string;
  /** True for fields annotated `(google.api.field_behavior) = REQUIRED`. */
  required(field: DescField): boolean;
}

/** Canonical gRPC code names, as they open an entry of an `Errors:` line. */
const CODE_NAMES = new Set([
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
]);

const FIELD_BEHAVIOR_REQUIRED = 2;

/** Splits at commas and semicolons outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if ((char === "," || char === ";") && depth === 0) {
      parts.push(current.trim());
      current = "";
    } else current += char;
  }
  parts.push(current.trim());
  return parts.filter(Boolean);
}

/**
 * Reads an `Errors:` line: each entry is `CODE REASON (note)`, `CODE (note)` or a further
 * `REASON (note)` of the code before it.
 */
export function parseErrors(line: string): DocumentedError[] {
  const errors: DocumentedError[] = [];
  let code = "";
  for (const entry of splitTopLevel(line)) {
    const note = /\((.*)\)\s*$/s.exec(entry)?.[1]?.trim() ?? "";
    const words = entry
      .replace(/\((.*)\)\s*$/s, "")
      .trim()
      .split(/\s+/);
    if (words[0] === "none") continue;
    if (CODE_NAMES.has(words[0]!)) code = words.shift()!;
    if (!code) continue;
    errors.push({ code, reason: words[0] ?? code, note });
  }
  return errors;
}

/** The first sentence: up to a full stop followed by a space and a capital, or the end. */
export function firstSentence(text: string): { summary: string; rest: string } {
  const flat = text.replace(/\s*\n\s*/g, " ").trim();
  const end = /[.!?](?=\s+[A-Z`(])/.exec(flat);
  if (!end) return { summary: flat.replace(/\.$/, ""), rest: "" };
  return { summary: flat.slice(0, end.index), rest: flat.slice(end.index + 1).trim() };
}

/** `{session_id}` and `{a.b=**}` variables → Fastify parameters; `:verb` suffixes kept literal. */
function fastifyUrl(template: string): { url: string; pathFields: string[] } {
  const pathFields: string[] = [];
  const url = template
    .split("/")
    .map((segment) => {
      const variable = /^\{([\w.]+)(?:=([^}]*))?\}(.*)$/.exec(segment);
      if (!variable) return segment.replaceAll(":", "::");
      const [, field, pattern, suffix] = variable;
      pathFields.push(field!);
      const name = field!.replaceAll(".", "__");
      if (pattern?.includes("**")) return "*";
      // A literal suffix after a variable in one segment needs the variable to stop before ':'.
      return suffix ? `:${name}(^[^/:]+)${suffix.replaceAll(":", "::")}` : `:${name}`;
    })
    .join("/");
  return { url, pathFields };
}

/** Reads every annotated RPC of Parley's four services out of the descriptor set. */
export function loadCatalogue(): Catalogue {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSetBytes);
  const registry = createFileRegistry(set);
  const httpRule = registry.getExtension("google.api.http") as DescExtension;
  const fieldBehavior = registry.getExtension("google.api.field_behavior") as DescExtension;
  const comments = new Map<string, string>();

  for (const file of set.file) {
    const pkg = file.package;
    const locations = new Map(
      (file.sourceCodeInfo?.location ?? []).map((l) => [
        l.path.join("."),
        l.leadingComments
          .split("\n")
          .map((line) => line.trim())
          .join("\n")
          .trim(),
      ]),
    );
    const text = (path: number[]) => locations.get(path.join(".")) ?? "";
    file.messageType.forEach((message, m) => {
      comments.set(`${pkg}.${message.name}`, text([4, m]));
      message.field.forEach((field, f) => {
        comments.set(`${pkg}.${message.name}.${field.name}`, text([4, m, 2, f]));
      });
    });
    file.enumType.forEach((enumType, e) => {
      comments.set(`${pkg}.${enumType.name}`, text([5, e]));
      enumType.value.forEach((value, v) => {
        comments.set(`${pkg}.${value.name}`, text([5, e, 2, v]));
      });
    });
    file.service.forEach((service, s) => {
      comments.set(`${pkg}.${service.name}`, text([6, s]));
      service.method.forEach((method, r) => {
        comments.set(`${pkg}.${service.name}.${method.name}`, text([6, s, 2, r]));
      });
    });
  }

  const rpcs: Rpc[] = [];
  for (const file of registry.files) {
    const upstream = /^parley\.(\w+)\.v\d+$/.exec(file.proto.package)?.[1] as UpstreamName | undefined;
    if (!upstream || !UPSTREAM_NAMES.includes(upstream)) continue;
    for (const service of file.services) {
      for (const method of service.methods) {
        if (method.methodKind !== "unary" || !method.proto.options) continue;
        const rule = getOption(method, httpRule) as {
          pattern: { case: string | undefined; value?: unknown };
          body: string;
        };
        const { case: verb, value: template } = rule.pattern;
        if (!verb || verb === "custom" || typeof template !== "string") continue;
        const lines = (comments.get(`${service.typeName}.${method.name}`) ?? "").split("\n");
        const errorsLine = lines.find((l) => l.startsWith("Errors:"));
        const { summary, rest } = firstSentence(
          lines.filter((l) => !l.startsWith("Errors:") && !l.startsWith("Callers:")).join("\n"),
        );
        const callersLine = lines.find((l) => l.startsWith("Callers:"));
        rpcs.push({
          verb: verb.toUpperCase() as Verb,
          template,
          ...fastifyUrl(template),
          body: rule.body,
          upstream,
          service,
          method,
          grpcPath: `/${service.typeName}/${method.name}`,
          callers: callerRules[`${service.typeName}.${method.name}`],
          summary: summary || method.name,
          description: [rest, callersLine].filter(Boolean).join("\n\n"),
          errors: errorsLine ? parseErrors(errorsLine.slice("Errors:".length)) : [],
        });
      }
    }
  }

  return {
    registry,
    rpcs,
    comment: (fullName) => comments.get(fullName) ?? "",
    required: (field) =>
      field.proto.options !== undefined &&
      (getOption(field, fieldBehavior) as number[]).includes(FIELD_BEHAVIOR_REQUIRED),
  };
}
