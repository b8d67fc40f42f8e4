import {
  createFileRegistry,
  type DescMethod,
  type DescService,
  type FileRegistry,
  fromBinary,
} from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBytes } from "@parley/proto/descriptors";
import { HttpRule } from "@parley/proto/google/api/http";
import { UPSTREAM_NAMES, type UpstreamName } from "../upstreams";

/** google.api.http's extension number on MethodOptions. */
const HTTP_RULE_FIELD = 72295728;

/** One HTTP route derived from one RPC's google.api.http annotation. */
export interface Route {
  verb: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The template as annotated: `/v1/sessions/{session_id}:accept`. */
  template: string;
  pattern: RegExp;
  /** Path variables in order: the request field each one sets (`session_id`, `a.b`). */
  pathFields: string[];
  /** "*" (whole body), a field name, or "" (no body: the rest comes from the query). */
  body: string;
  upstream: UpstreamName;
  service: DescService;
  method: DescMethod;
  /** "/parley.user.v1.UserService/GetExpert" */
  grpcPath: string;
}

function httpRuleOf(method: DescMethod): HttpRule | undefined {
  const unknown = method.proto.options?.$unknown?.find((field) => field.no === HTTP_RULE_FIELD);
  if (!unknown) return undefined;
  // The unknown field's data is the length-prefixed HttpRule.
  return HttpRule.decode(new BinaryReader(unknown.data).bytes());
}

/** `/v1/sessions/{session_id}:accept` → a regex with one group per variable. */
function compileTemplate(template: string): { pattern: RegExp; pathFields: string[] } {
  const pathFields: string[] = [];
  let source = "";
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf("{");
    if (open < 0) {
      source += escapeRegExp(rest);
      break;
    }
    source += escapeRegExp(rest.slice(0, open));
    const close = rest.indexOf("}", open);
    const [field, segments] = rest.slice(open + 1, close).split("=");
    pathFields.push(field!);
    source += segments?.includes("**") ? "(.+)" : "([^/:]+)";
    rest = rest.slice(close + 1);
  }
  return { pattern: new RegExp(`^${source}$`), pathFields };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export interface Catalogue {
  registry: FileRegistry;
  routes: Route[];
  /** The proto comment of a service, method, message or field (by full name), for OpenAPI. */
  comment(fullName: string): string;
  match(verb: string, path: string): { route: Route; params: string[] } | undefined;
}

/** Reads every annotated RPC of Parley's four services out of the descriptor set. */
export function loadCatalogue(): Catalogue {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSetBytes);
  const registry = createFileRegistry(set);
  const routes: Route[] = [];
  const comments = new Map<string, string>();

  for (const file of set.file) {
    const pkg = file.package;
    const text = (path: number[]) =>
      file.sourceCodeInfo?.location
        .find((l) => l.path.length === path.length && l.path.every((p, i) => p === path[i]))
        ?.leadingComments.trim() ?? "";
    file.messageType.forEach((message, m) => {
      comments.set(`${pkg}.${message.name}`, text([4, m]));
      message.field.forEach((field, f) => {
        comments.set(`${pkg}.${message.name}.${field.name}`, text([4, m, 2, f]));
      });
    });
    file.service.forEach((service, s) => {
      comments.set(`${pkg}.${service.name}`, text([6, s]));
      service.method.forEach((method, r) => {
        comments.set(`${pkg}.${service.name}.${method.name}`, text([6, s, 2, r]));
      });
    });
  }

  for (const file of registry.files) {
    const upstream = /^parley\.(\w+)\.v\d+$/.exec(file.proto.package)?.[1] as UpstreamName | undefined;
    if (!upstream || !UPSTREAM_NAMES.includes(upstream)) continue;
    for (const service of file.services) {
      for (const method of service.methods) {
        const rule = httpRuleOf(method);
        if (!rule?.pattern || method.methodKind !== "unary") continue;
        const { $case, value } = rule.pattern as { $case: string; value: string };
        if ($case === "custom") continue;
        const verb = $case.toUpperCase() as Route["verb"];
        routes.push({
          verb,
          template: value,
          ...compileTemplate(value),
          body: rule.body,
          upstream,
          service,
          method,
          grpcPath: `/${service.typeName}/${method.name}`,
        });
      }
    }
  }

  return {
    registry,
    routes,
    comment: (fullName) => comments.get(fullName) ?? "",
    match(verb, path) {
      for (const route of routes) {
        if (route.verb !== verb) continue;
        const found = route.pattern.exec(path);
        if (found) return { route, params: found.slice(1).map((p) => decodeURIComponent(p)) };
      }
      return undefined;
    },
  };
}
