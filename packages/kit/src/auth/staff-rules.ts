import { createFileRegistry, type DescExtension, fromBinary, getOption, hasOption } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetBytes } from "@parley/proto/descriptors";
import { allow, type Permission } from "./permissions";
import { type PersonRole, withFormerNames } from "./principal";

/** One back-office RPC's `(parley.auth.v1.staff)` option: the roles allowed and the audited action. */
export interface StaffRule {
  roles: PersonRole[];
  /** "person.suspend"; "" for reads not recorded when they succeed. */
  action: string;
}

const STAFF_OPTION = "parley.auth.v1.staff";
const ROLE_ENUM = "parley.auth.v1.Role";

/**
 * Reads the permission matrix written in the protos: the `(parley.auth.v1.staff)` option of
 * every method of a service, keyed by the method's name ("SuspendPerson"). A method without
 * the option is absent (and so refused to everyone by the permission map built from it).
 */
export function readStaffRules(serviceTypeName: string): Map<string, StaffRule> {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSetBytes));
  const service = registry.getService(serviceTypeName);
  const option = registry.getExtension(STAFF_OPTION) as DescExtension | undefined;
  const roleEnum = registry.getEnum(ROLE_ENUM);
  if (!service || !option || !roleEnum)
    throw new Error(`${serviceTypeName} or ${STAFF_OPTION} is not in the descriptors`);
  const rules = new Map<string, StaffRule>();
  for (const method of service.methods) {
    if (!hasOption(method, option)) continue;
    const rule = getOption(method, option) as { roles: number[]; action: string };
    const roles = rule.roles.map((number) => {
      const value = roleEnum.values.find((v) => v.number === number);
      if (!value) throw new Error(`${method.name}: unknown role ${number}`);
      return value.name.replace(/^ROLE_/, "").toLowerCase() as PersonRole;
    });
    rules.set(method.name, { roles: withFormerNames(roles), action: rule.action });
  }
  return rules;
}

/**
 * A service's permission map built from its staff rules: every RPC of the generated
 * definition must carry one (a missing rule fails at start, not at the first call).
 */
export function staffPermissions<D extends Record<string, { path: string }>>(
  definition: D,
  rules: Map<string, StaffRule>,
): { [K in keyof D]: Permission } {
  const map: Record<string, Permission> = {};
  for (const [key, method] of Object.entries(definition)) {
    const name = method.path.slice(method.path.lastIndexOf("/") + 1);
    const rule = rules.get(name);
    if (!rule) throw new Error(`${method.path} has no (parley.auth.v1.staff) rule`);
    map[key] = allow.roles(...rule.roles);
  }
  return map as { [K in keyof D]: Permission };
}
