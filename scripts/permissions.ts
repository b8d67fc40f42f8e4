// Writes packages/proto/src/gen/permissions.json from the services' permission maps (run by
// `pnpm gen`): who may call each RPC, keyed by its full gRPC name. The edge documents each
// operation's security from it and answers an anonymous call to a signed-in RPC without a
// hop; the services keep enforcing their own maps.
import { writeFileSync } from "node:fs";
import type { Permission } from "@parley/kit/auth";
import { AccountServiceService } from "@parley/proto/parley/auth/v1/account";
import { AuthServiceService } from "@parley/proto/parley/auth/v1/auth";
import { BackOfficeServiceService } from "@parley/proto/parley/auth/v1/backoffice";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import { BillingStaffServiceService } from "@parley/proto/parley/billing/v1/staff";
import { SafetyServiceService } from "@parley/proto/parley/session/v1/safety";
import { SessionServiceService } from "@parley/proto/parley/session/v1/session";
import { SessionStaffServiceService } from "@parley/proto/parley/session/v1/staff";
import { UserSafetyServiceService } from "@parley/proto/parley/user/v1/safety";
import { UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import { accountPermissions } from "../services/auth/src/grpc/account";
import { authPermissions, backOfficePermissions } from "../services/auth/src/grpc/permissions";
import { billingPermissions } from "../services/billing/src/grpc/permissions";
import { billingStaffPermissions } from "../services/billing/src/grpc/staff";
import { sessionPermissions } from "../services/session/src/grpc/permissions";
import { safetyPermissions } from "../services/session/src/grpc/safety-permissions";
import { sessionStaffPermissions } from "../services/session/src/grpc/staff";
import { userPermissions } from "../services/user/src/grpc/permissions";
import { userSafetyPermissions } from "../services/user/src/grpc/safety";
import { userStaffPermissions } from "../services/user/src/grpc/staff";

const services: Array<[Record<string, { path: string }>, Record<string, Permission>]> = [
  [AuthServiceService, authPermissions],
  [BackOfficeServiceService, backOfficePermissions],
  [AccountServiceService, accountPermissions],
  [UserServiceService, userPermissions],
  [SessionServiceService, sessionPermissions],
  [SessionStaffServiceService, sessionStaffPermissions],
  [UserStaffServiceService, userStaffPermissions],
  [SafetyServiceService, safetyPermissions],
  [UserSafetyServiceService, userSafetyPermissions],
  [BillingServiceService, billingPermissions],
  [BillingStaffServiceService, billingStaffPermissions],
];

const sorted = (values: readonly string[] | undefined) => [...(values ?? [])].sort();
const permissions: Record<string, Required<Permission>> = {};
for (const [definition, map] of services) {
  for (const [key, method] of Object.entries(definition)) {
    const permission = map[key];
    if (!permission) continue;
    // "/parley.auth.v1.AuthService/Register" → "parley.auth.v1.AuthService.Register"
    permissions[method.path.slice(1).replace("/", ".")] = {
      anonymous: permission.anonymous ?? false,
      roles: sorted(permission.roles) as Required<Permission>["roles"],
      services: sorted(permission.services),
      partnerScopes: sorted(permission.partnerScopes),
    };
  }
}
writeFileSync(
  new URL("../packages/proto/src/gen/permissions.json", import.meta.url),
  `${JSON.stringify(permissions, null, 2)}\n`,
);
