import { allow, type Permission } from "@parley/kit/auth";
import type { CallContext, Handlers } from "@parley/kit/grpc";
import type { AccountServiceService } from "@parley/proto/parley/auth/v1/account";
import type { Lifecycle } from "../domain/lifecycle";

/** A person's own account: any signed-in person, for themselves only. */
export const accountPermissions: { [K in keyof typeof AccountServiceService]: Permission } = {
  deleteMyAccount: allow.signedIn,
  exportMyData: allow.signedIn,
};

/** The caller's own bearer token, passed on so each service serves only their data. */
const bearerOf = (ctx: CallContext) => {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" ? header.replace(/^Bearer /, "") : "";
};

export function accountHandlers(lifecycle: Lifecycle): Handlers<typeof AccountServiceService> {
  return {
    async deleteMyAccount(request, ctx) {
      await lifecycle.deleteAccount(ctx.principal, bearerOf(ctx), {
        password: request.password,
        mfaCode: request.mfaCode,
      });
      return {};
    },
    async exportMyData(_request, ctx) {
      return { archive: await lifecycle.exportData(ctx.principal, bearerOf(ctx)) };
    },
  };
}
